# Delivered messages/s against sockets in one room, for the seven rooms of the
# end-to-end benchmark (log scale: the coalesced room delivers many times
# more than the others). scripts/bench.sh runs it:
#   gnuplot -e "datafile='bench/plot/throughput.dat'; outfile='bench/plot/throughput.png'" bench/plot/throughput.gp
# Data columns: sockets, then the rooms in bench/e2e/table.mjs's order:
# durable-rooms, durable-rooms-coalesced, durable-rooms-full, plain-js,
# partyserver, effect-schema, floor. A room a run left out is "n/a" (no line).
if (!exists("datafile")) datafile = "bench/plot/throughput.dat"
if (!exists("outfile")) outfile = "bench/plot/throughput.png"
set terminal pngcairo size 900,680 enhanced font "sans,11"
set output outfile
set title "Chat room end to end in local workerd: delivered messages/s"
set xlabel "sockets in the room"
set ylabel "delivered messages/s"
set logscale x
set xtics ("10" 10, "100" 100, "1,000" 1000)
set xrange [7:1400]
set logscale y
set format y "%.0f"
set grid ytics mytics lc rgb "#dddddd"
set key below box maxrows 4 spacing 1.1
set bmargin 11
set style data linespoints
plot datafile using 1:2 title "durable-rooms (Wasm core)"            lw 2 pt 7 ps 1.2 lc rgb "#d62728", \
     ''       using 1:3 title "durable-rooms, coalesced (20 ms window)" lw 2 pt 7 ps 1.2 dt 2 lc rgb "#ff7f0e", \
     ''       using 1:4 title "durable-rooms, full chat (presence, resume)" lw 2 pt 7 ps 1.2 dt 4 lc rgb "#8c564b", \
     ''       using 1:5 title "plain JS"                             lw 2 pt 5 ps 1.2 lc rgb "#1f77b4", \
     ''       using 1:6 title "PartyServer"                          lw 2 pt 9 ps 1.2 lc rgb "#2ca02c", \
     ''       using 1:7 title "Effect Schema"                        lw 2 pt 11 ps 1.2 lc rgb "#9467bd", \
     ''       using 1:8 title "floor (frames sent on unparsed)"      lw 1 pt 1 ps 1.2 dt 3 lc rgb "#555555"
