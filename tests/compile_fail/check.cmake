# Runs one compile-fail case: the compilation must fail, and its output must
# hold every pattern of PATTERNS (a ;-list of regular expressions), so the
# test cannot pass on an unrelated error (a missing include, say).
#   cmake -DCXX=... -DFLAGS=... -DSOURCE=... -DPATTERNS=... -P check.cmake
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled; it must not")
endif()
foreach(p IN LISTS PATTERNS)
  if(NOT "${out}${err}" MATCHES "${p}")
    message(FATAL_ERROR "${SOURCE}: the compiler's output lacks \"${p}\":\n${err}")
  endif()
endforeach()
message(STATUS "${SOURCE}: refused as expected")
