# Delivered messages/s against sockets in one room, for the four rooms of the
# end-to-end benchmark. scripts/bench.sh runs it:
#   gnuplot -e "datafile='bench/plot/throughput.dat'; outfile='bench/plot/throughput.png'" bench/plot/throughput.gp
# Data columns: sockets, durable-rooms, plain-js, partyserver, effect-schema.
if (!exists("datafile")) datafile = "bench/plot/throughput.dat"
if (!exists("outfile")) outfile = "bench/plot/throughput.png"
set terminal pngcairo size 900,560 enhanced font "sans,11"
set output outfile
set title "Chat room end to end in local workerd: delivered messages/s"
set xlabel "sockets in the room"
set ylabel "delivered messages/s"
set logscale x
set xtics ("10" 10, "100" 100, "1,000" 1000)
set xrange [7:1400]
set yrange [0:*]
set format y "%.0f"
set grid ytics lc rgb "#dddddd"
set key bottom left box opaque
set style data linespoints
plot datafile using 1:2 title "durable-rooms (Wasm core)" lw 2 pt 7 ps 1.2 lc rgb "#d62728", \
     ''       using 1:3 title "plain JS"                  lw 2 pt 5 ps 1.2 lc rgb "#1f77b4", \
     ''       using 1:4 title "PartyServer"               lw 2 pt 9 ps 1.2 lc rgb "#2ca02c", \
     ''       using 1:5 title "Effect Schema"             lw 2 pt 11 ps 1.2 lc rgb "#9467bd"
