/*
 * What the child reads from its channel, through the real receive path
 * of both deliveries. Each input is a script of messages (see
 * queue_script) queued into one end of a SOCK_SEQPACKET socketpair, whose
 * sending end is then closed, so that the receiver never waits; its first
 * byte picks the receiver:
 *   0  cph__receive_all, the final message's extra fds kept;
 *   1  cph__receive_all, the extra fds closed by the library;
 *   2  cph__direct_check, cph__direct_receive and cph__direct_confirm,
 *      with the verdict the core would give (duplicate keys: EPROTO).
 * After each input:
 *   - the receiver did not time out (everything was queued before);
 *   - on error, nothing it received is open: once the harness closed its
 *     ends, the process holds as many fds as before the input;
 *   - on success, every fd handle is >= 3 and close-on-exec, every key is
 *     valid, a key is repeated only where a plain sort of them says so
 *     (the core's index reports exactly those), every extra fd is -1 or
 *     open and close-on-exec, and once all is released the fd count is
 *     back to what it was.
 * Only the receive functions and the message head of protocol.h are
 * used: the key list inside a message is the library's business.
 * A failed check aborts, which libFuzzer reports as a crash.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cph_core.h"
#include "fuzz.h"
#include "linux/protocol.h"
#include "transport.h"

/* Messages one input queues, at most: enough for several full batches of
 * CPH__FDS_PER_MESSAGE fds without making an input slow. */
#define MESSAGES_MAX 8
/* Nothing waits: far beyond what a queued channel takes to read. */
#define DEADLINE_MS 5000
/* What extra[] holds before a receive: neither -1 nor an fd. */
#define UNSET (-2)

enum receiver { KEEP_EXTRA, CLOSE_EXTRA, DIRECT, RECEIVERS };

/* Message flags. */
enum {
    PLUS_TWO = 1,   /* 2 fds more than the count byte says */
    MEMFD = 2,      /* the fds are the memfd, not /dev/null */
    LAST_SENT = 4,  /* the sending end closes after this message */
};

static int devnull = -1, memfd = -1;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_receive: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    memfd = memfd_create("fuzz_receive", MFD_CLOEXEC);
    if (devnull < 0 || memfd < 0)
        fail("cannot open the fds to send");
    return 0;
}

/*
 * Each message is [flags][fd count][u16 length, little endian][bytes]
 * (fewer bytes at the end of the input). A message the kernel refuses
 * (more than 253 fds, a full buffer) ends the script, as does LAST_SENT.
 */
static void queue_script(struct fuzz_script *s, int sock)
{
    for (int i = 0; i < MESSAGES_MAX && s->at < s->size; i++) {
        uint8_t flags = fuzz_byte(s);
        size_t nfds = fuzz_byte(s) + (flags & PLUS_TWO ? 2 : 0);
        size_t len = fuzz_byte(s);

        len |= (size_t)fuzz_byte(s) << 8;
        if (len > s->size - s->at)
            len = s->size - s->at;
        if (!fuzz_send(sock, s->data + s->at, len,
                          flags & MEMFD ? memfd : devnull, nfds))
            return;
        s->at += len;
        if (flags & LAST_SENT)
            return;
    }
}

static void expect_open_cloexec(int fd, const char *what)
{
    int flags = fcntl(fd, F_GETFD);

    if (fd < 3 || flags < 0 || !(flags & FD_CLOEXEC))
        fail(what);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether two handles share a key, by sorting: what the core's index must
 * find too. */
static bool sorted_repeat(const struct cph__handle *h, size_t count)
{
    const char **keys = malloc(count * sizeof *keys);
    bool repeat = false;

    if (!keys)
        fail("out of memory");
    for (size_t i = 0; i < count; i++)
        keys[i] = h[i].key;
    qsort(keys, count, sizeof *keys, compare_keys);
    for (size_t i = 1; i < count && !repeat; i++)
        repeat = strcmp(keys[i - 1], keys[i]) == 0;
    free(keys);
    return repeat;
}

/* The core's verdict on received handles, as the child gives it: EPROTO
 * for a repeated key. */
static int index_keys(const struct cph__handle *h, size_t count)
{
    struct cph__keyset set = {0};
    int err = cph__keyset_reserve(&set, h, sizeof *h, 0, count);

    if (err)
        fail("out of memory");
    for (size_t i = 0; i < count && !err; i++) {
        if (cph__keyset_find(&set, h, sizeof *h, h[i].key) >= 0)
            err = EPROTO;
        else
            cph__keyset_put(&set, h, sizeof *h, i);
    }
    cph__keyset_free(&set);
    if ((err != 0) != sorted_repeat(h, count))
        fail("the key index and a sort disagree on repeated keys");
    return err;
}

static void expect_handles(const struct cph__handle *h, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!cph__key_valid(h[i].key))
            fail("received an invalid key");
        if (h[i].kind == CPH__KIND_FD)
            expect_open_cloexec(h[i].fd, "a handle's fd is not >= 3, open "
                                         "and close-on-exec");
    }
}

/* Receives from sock with the receiver r picks, checks what it got and
 * releases it. */
static void receive(enum receiver r, int sock)
{
    int64_t deadline = cph__now_ms() + DEADLINE_MS;
    struct cph__handle *h = NULL;
    size_t count = 0;
    int extra[CPH__EXTRA_MAX] = {UNSET, UNSET};
    int err, verdict = 0;

    if (r == DIRECT) {
        if (cph__direct_check(sock, getpid()) != 0)
            fail("cph__direct_check refused this process's own pair");
        err = cph__direct_receive(sock, getpid(), deadline, &h, &count);
    } else {
        err = cph__receive_all(sock, deadline, &h, &count,
                               r == KEEP_EXTRA ? extra : NULL, 0);
    }
    if (err == ETIMEDOUT)
        fail("the receiver waited for a channel already closed");
    if (!err) {
        expect_handles(h, count);
        verdict = index_keys(h, count);
    }
    if (r == DIRECT)
        cph__direct_confirm(sock, getpid(), err ? err : verdict);
    if (!err && r == KEEP_EXTRA) {
        for (size_t i = 0; i < CPH__EXTRA_MAX; i++) {
            if (extra[i] == -1)
                continue;
            expect_open_cloexec(extra[i], "an extra fd is neither -1 nor "
                                          "open and close-on-exec");
            close(extra[i]);
        }
    }
    if (err && (h || count))
        fail("a failed receive returned handles");
    cph__handles_release(h, count);
    cph__received_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_script s = {.data = data, .size = size};
    int fds = fuzz_count_fds(), pair[2];
    enum receiver r = (enum receiver)(fuzz_byte(&s) % RECEIVERS);

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        fail("cannot make a socketpair");
    /* As the parent does: the direct receiver takes only stamped
     * messages from it. */
    if (cph__pass_creds(pair[0], true) != 0)
        fail("cannot set SO_PASSCRED");
    queue_script(&s, pair[1]);
    close(pair[1]);
    receive(r, pair[0]);
    close(pair[0]);
    if (fuzz_count_fds() != fds)
        fail("fds leaked");
    return 0;
}
