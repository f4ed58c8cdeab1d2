# bench/bench.mk - benchmark targets, included by the top-level Makefile.
