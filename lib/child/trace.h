#ifndef CPH_CHILD_TRACE_H
#define CPH_CHILD_TRACE_H

/* The constructor's trace under CPH_DEBUG=1: value is CPH_HANDSHAKE as it
 * found it (NULL when absent), status the check-in's outcome. */
void cph__child_trace(const char *value, int status);

#endif
