#include <pthread.h>
#include <signal.h>

#include "cph_core.h"

/* Starts the server thread, detached, with every signal blocked: no
 * signal of the caller's is ever delivered to it (the mask is inherited
 * from the creating thread, so it is set around pthread_create). */
int cph__thread_start(void *(*serve)(void *))
{
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all, old;
    int err = pthread_attr_init(&attr);

    if (err)
        return err;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&thread, &attr, serve, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err;
}
