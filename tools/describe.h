#ifndef CPH_TOOLS_DESCRIBE_H
#define CPH_TOOLS_DESCRIBE_H

/* Prints to stdout what fd is, without a newline. */
void describe(int fd);

#endif
