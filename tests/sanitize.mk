# tests/sanitize.mk - the NIF under AddressSanitizer inside a real VM; included by the top-level Makefile.
