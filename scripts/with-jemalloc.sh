#!/bin/sh
# Runs the command given (`sh scripts/with-jemalloc.sh node … dist/server.js`) in place of
# this shell, with jemalloc as its allocator when the system has it (Debian and Ubuntu:
# the libjemalloc2 package), else as it is: glibc's then, one arena (MALLOC_ARENA_MAX=1).
# After a burst of load, jemalloc (as MALLOC_CONF sets it: one arena, and a thread that
# hands memory back while the process is idle) gives freed memory back within seconds, where
# glibc keeps what sits below live memory in its heap: 96-98 MB held after load against
# 101-121 MB (decision 113). The image installs it and sets LD_PRELOAD itself.
case "${LD_PRELOAD:-}" in
  *libjemalloc*) ;;
  *)
    for lib in /usr/lib/*-linux-gnu/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
      if [ -e "$lib" ]; then
        LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
        export LD_PRELOAD
        break
      fi
    done
    ;;
esac
exec "$@"
