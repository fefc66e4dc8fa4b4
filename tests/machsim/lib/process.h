/* Between the process layer's files (spawn.c, kqueue.c). */
#ifndef MACHSIM_PROCESS_H
#define MACHSIM_PROCESS_H

/* In a process made by clone, before its exec: closes this process's kqueues,
 * which a spawned child never has (xnu bsd/kern/kern_descrip.c fdt_fork skips
 * FG_CONFINED files, which kqueue_internal makes every kqueue).
 * Async-signal-safe: reads no lock. */
void machsim__kqueues_drop(void);

#endif
