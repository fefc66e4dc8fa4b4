/*
 * Under the Mach simulator, what a helper child holds at its end beyond
 * what its task started with: the child-side half of the rights check
 * (the parent's is holds.c).
 */
#ifndef CPH_TESTS_RIGHTS_LEFT_H
#define CPH_TESTS_RIGHTS_LEFT_H

#include <stdbool.h>
#include <stdio.h>

/* This task holds the rights it started with (the simulator's record of
 * its space before any constructor ran) and at most spare_sends send
 * rights of one reference more. Writes each other right to out ("left
 * NAME TYPE UREFS"); false if there is one. */
bool rights_left_none(FILE *out, int spare_sends);

#endif
