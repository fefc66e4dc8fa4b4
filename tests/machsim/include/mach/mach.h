/*
 * machsim: Apple SDK <mach/mach.h> (xnu-11417
 * libsyscall/mach/mach/mach.h): includes the Mach interface and declares
 * libsyscall's message helpers.
 */
#ifndef _MACH_H_
#define _MACH_H_

#define __MACH30__
#define MACH_IPC_FLAVOR UNTYPED

#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/mach_interface.h>
#include <mach/mach_port.h>
#include <mach/mach_init.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/mach_error.h>

#ifdef __cplusplus
extern "C" {
#endif

extern void mig_reply_setup(mach_msg_header_t *, mach_msg_header_t *);

extern void mach_msg_destroy(mach_msg_header_t *);
extern mach_msg_return_t mach_msg_receive(mach_msg_header_t *);
extern mach_msg_return_t mach_msg_send(mach_msg_header_t *);
extern mach_msg_return_t mach_msg_server_once(
    boolean_t (*)(mach_msg_header_t *, mach_msg_header_t *),
    mach_msg_size_t, mach_port_t, mach_msg_options_t);
extern mach_msg_return_t mach_msg_server(
    boolean_t (*)(mach_msg_header_t *, mach_msg_header_t *),
    mach_msg_size_t, mach_port_t, mach_msg_options_t);

#define VOUCHER_MACH_MSG_API_VERSION 20140205
typedef struct voucher_mach_msg_state_s *voucher_mach_msg_state_t;
#define VOUCHER_MACH_MSG_STATE_UNCHANGED ((voucher_mach_msg_state_t)~0ul)
extern boolean_t voucher_mach_msg_set(mach_msg_header_t *msg);
extern void voucher_mach_msg_clear(mach_msg_header_t *msg);

#ifdef __cplusplus
}
#endif

#endif
