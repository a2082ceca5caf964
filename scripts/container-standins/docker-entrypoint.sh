#!/bin/sh
# As the official Node images' entrypoint: run the arguments (with node when the first is an option or not a
# command), replacing this shell so the command is PID 1 and receives the container's signals.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
