#!/bin/sh
# Counts the words of input.txt; writes a new file and appends to an existing one.
set -e
mkdir -p out
wc -w < input.txt > out/count.txt
echo "counted on $(hostname) at $(date -u +%FT%TZ)" >> runs.txt
echo "words: $(cat out/count.txt)"
