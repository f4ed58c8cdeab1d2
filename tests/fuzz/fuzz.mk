# tests/fuzz/fuzz.mk - fuzzing targets, included by the top-level Makefile.
