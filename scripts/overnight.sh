#!/usr/bin/env bash
# Run a sweep file overnight, logging to a dated file. Run it again (or let the scheduler do it) after
# an interruption: finished runs are skipped and interrupted ones resume.
#
#   scripts/overnight.sh SWEEP.yaml            # AUTOSEARCH=/path/to/autosearch, LOGS=folder to override
#
# SIGTERM or SIGINT to this script (systemd stop, Slurm's --signal=B:TERM, kill) is passed on to
# autosearch, which stops the running trial, writes its results and exits 0.
set -uo pipefail
sweep=${1:?usage: overnight.sh SWEEP.yaml}
autosearch=${AUTOSEARCH:-autosearch}
logs=${LOGS:-logs}
mkdir -p "$logs"
log="$logs/$(basename "$sweep" .yaml)-$(date +%Y-%m-%d_%H%M%S).log"
echo "$(date -Is) sweep $sweep on $(hostname), log $log"
"$autosearch" sweep "$sweep" >"$log" 2>&1 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP  # bash waits on a foreground child deaf to signals
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do  # a signal ended the wait early: let autosearch finish writing
  status=0
  wait "$child" || status=$?
done
echo "$(date -Is) sweep ended with status $status (1: a run failed; see the summary at the end of $log)"
exit "$status"
