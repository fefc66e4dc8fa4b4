/* The wire between libmachsim and machsim-kernel: one SOCK_SEQPACKET datagram per request and
 * per reply, a fixed head then `n` payload bytes; fds ride as SCM_RIGHTS. */
#ifndef MACHSIM_PROTO_H
#define MACHSIM_PROTO_H

#include <stdint.h>

/* abstract, per uid and per kernel binary (a hash of its path): two builds never share a
 * kernel of another version */
#define MACHSIM_SOCKET "machsim-v1-%u-%08x"
#define MACHSIM_MAX_DATAGRAM (192 * 1024)
#define MACHSIM_MAX_FDS 250

enum ms_op {
	MS_HELLO_IMAGE = 1, /* a[0] pid: a new image of this process */
	MS_HELLO_THREAD,    /* a[0] task id: one more connection of a task */
	MS_FORKED,          /* a[0] the parent's task id */
	MS_CREATE_CHILD,    /* a[0] pid; payload struct ms_spawn_ports */
	MS_TASK_SELF_CHECK, /* a[0] task name: resolves a task argument */
	MS_PORT_ALLOCATE,   /* a[0] right, a[1] name or 0 (allocate_name) */
	MS_PORT_CONSTRUCT,  /* a[0] flags, a[1] mpl_qlimit, a[2] context */
	MS_PORT_DESTRUCT,   /* a[0] name, a[1] srdelta, a[2] guard */
	MS_PORT_DEALLOCATE, /* a[0] name */
	MS_PORT_DESTROY,    /* a[0] name */
	MS_PORT_MOD_REFS,   /* a[0] name, a[1] right, a[2] delta */
	MS_PORT_GET_REFS,   /* a[0] name, a[1] right */
	MS_PORT_TYPE,       /* a[0] name */
	MS_PORT_NAMES,      /* payload back: u32 names[], u32 types[] */
	MS_PORT_INSERT_RIGHT,  /* a[0] name, a[1] poly name, a[2] disposition */
	MS_PORT_EXTRACT_RIGHT, /* a[0] name, a[1] disposition */
	MS_PORT_GET_ATTRIBUTES, /* a[0] name, a[1] flavor, a[2] count */
	MS_PORT_SET_ATTRIBUTES, /* a[0] name, a[1] flavor; payload info */
	MS_PORT_INSERT_MEMBER,  /* a[0] member, a[1] set */
	MS_PORT_EXTRACT_MEMBER, /* a[0] member, a[1] set */
	MS_PORT_MOVE_MEMBER,    /* a[0] member, a[1] set or 0 */
	MS_PORT_REQUEST_NOTIFICATION, /* a[0] name, a[1] id, a[2] sync, a[3] notify, a[4] disp */
	MS_PORT_KOBJECT,        /* a[0] name */
	MS_PORT_GET_CONTEXT,    /* a[0] name */
	MS_PORT_SET_CONTEXT,    /* a[0] name, a[1] context */
	MS_MSG,                 /* see struct ms_msg_args; payload: the message */
	MS_MSG_INTERRUPT,       /* no reply: a signal reached the thread waiting in MS_MSG */
	MS_PORTS_REGISTER,      /* a[0] count; a[1..3] names */
	MS_PORTS_LOOKUP,
	MS_GET_SPECIAL_PORT,    /* a[0] which */
	MS_SET_SPECIAL_PORT,    /* a[0] which, a[1] name */
	MS_BOOTSTRAP_CHECK_IN,  /* a[0] bootstrap name; payload service name */
	MS_BOOTSTRAP_LOOK_UP,   /* a[0] bootstrap name; payload service name */
	MS_FILEPORT_MAKEPORT,   /* fd attached */
	MS_FILEPORT_MAKEFD,     /* a[0] name; fd back */
	MS_MK_TIMER_CREATE,
	MS_MK_TIMER_DESTROY,    /* a[0] name */
	MS_MESSAGE_FD,          /* a[0] name; fd back */
	MS_TEST_RIGHTS,         /* a[0] pid; payload back: struct ms_right[] */
	MS_TEST_START_RIGHTS,   /* a[0] pid; payload back: struct ms_right[] */
	MS_TEST_SANDBOX,        /* a[0] deny mach-register */
	MS_TEST_NAME_LIMIT,     /* a[0] limit (0: none) */
	MS_TEST_FAIL_FILEPORTS, /* a[0] fail */
	MS_TEST_PID_VERSION,    /* a[0] pid */
};

struct ms_req {
	uint32_t op;
	uint32_t n;
	uint64_t a[7];
};

struct ms_rep {
	int32_t kr;
	uint32_t n;
	uint64_t v[7];
};

/* MS_MSG: a[0] option, a[1] send size, a[2] rcv size, a[3] rcv name, a[4] timeout;
 * one memfd per OOL descriptor of the sent message, in order.
 * Reply v[0] what the payload is (MS_BACK_*), v[1] descriptors whose source memory xnu
 * consumed (deallocate == TRUE among [0, v[1]) is to be unmapped by the sender); payload: the
 * message as the user sees it (OOL addresses to fill from the fds, one per OOL descriptor). */
enum { MS_BACK_NONE, MS_BACK_RECEIVED, MS_BACK_PSEUDO, MS_BACK_SIZE };

/* MS_CREATE_CHILD's payload (lib/internal.h struct machsim__spawn_ports, fixed widths) */
struct ms_spawn_ports {
	int32_t nspecial;
	int32_t special_which[8];
	uint32_t special_port[8];
	int32_t registered_set;
	int32_t nregistered;
	uint32_t registered[3];
};

/* kr of a call that xnu answers with a fatal EXC_GUARD; payload "rule\0xnu source\0" */
#define MS_GUARD 0x7fff0001

struct ms_right {
	uint32_t name;
	uint32_t type;
	uint32_t urefs;
	uint32_t pad;
};

#endif
