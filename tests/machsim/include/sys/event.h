/* Apple's <sys/event.h> (xnu bsd/sys/event.h): struct kevent, the filters and flags cph and its
 * tests use, kqueue() and kevent(). Layout and values are xnu's; the calls are libmachsim's
 * (tests/machsim/lib/kqueue.c). */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_AIO (-3)
#define EVFILT_VNODE (-4)
#define EVFILT_PROC (-5)
#define EVFILT_SIGNAL (-6)
#define EVFILT_TIMER (-7)
#define EVFILT_MACHPORT (-8)
#define EVFILT_FS (-9)
#define EVFILT_USER (-10)
#define EVFILT_VM (-12)
#define EVFILT_EXCEPT (-15)
#define EVFILT_SYSCOUNT 18

#pragma pack(4)
struct kevent {
	uintptr_t ident;
	int16_t filter;
	uint16_t flags;
	uint32_t fflags;
	intptr_t data;
	void *udata;
};
#pragma pack()

#define EV_SET(kevp, a, b, c, d, e, f)                                                         \
	do {                                                                                   \
		struct kevent *ev_set_p_ = (kevp);                                             \
		ev_set_p_->ident = (a);                                                        \
		ev_set_p_->filter = (b);                                                       \
		ev_set_p_->flags = (c);                                                        \
		ev_set_p_->fflags = (d);                                                       \
		ev_set_p_->data = (e);                                                         \
		ev_set_p_->udata = (f);                                                        \
	} while (0)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080
#define EV_UDATA_SPECIFIC 0x0100
#define EV_VANISHED 0x0200
#define EV_SYSFLAGS 0xF000
#define EV_FLAG0 0x1000
#define EV_FLAG1 0x2000
#define EV_POLL EV_FLAG0
#define EV_OOBAND EV_FLAG1
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define NOTE_LOWAT 0x00000001
#define NOTE_EXIT 0x80000000
#define NOTE_FORK 0x40000000
#define NOTE_EXEC 0x20000000
#define NOTE_SIGNAL 0x08000000
#define NOTE_EXITSTATUS 0x04000000
#define NOTE_EXIT_DETAIL 0x02000000
#define NOTE_PDATAMASK 0x000fffff
#define NOTE_TRACK 0x00000001
#define NOTE_TRACKERR 0x00000002
#define NOTE_CHILD 0x00000004

#ifdef __cplusplus
extern "C" {
#endif

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif
