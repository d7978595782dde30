/* SPDX-License-Identifier: MIT */
/*
 * The framing of the daemon protocol (proto.h), written once for both
 * ends: the preload library's client and the daemon.
 *
 * Model.  A message is exactly one struct ufd_msg in one SOCK_SEQPACKET
 * record, with at most one fd attached (SCM_RIGHTS) and, on the daemon's
 * side, the sender's credentials (SO_PASSCRED).  Receiving classifies what
 * arrived in one way for every caller:
 *     1        a valid message (magic, version, exact size)
 *     0        the peer closed the channel
 *     -EPROTO  a record that is not a message (the channel may go on)
 *     -errno   the channel failed
 * Sending stamps magic and version and answers 0, -EPROTO for a short
 * write, or -errno.  EINTR is retried; SIGPIPE never raised.
 *
 * Nothing here calls a libc function that the preload library wraps
 * (close goes through the raw syscall), so both ends may use it.  No
 * locking: one call at a time per channel is the caller's rule.
 */
#ifndef UFD_SERVER_WIRE_H
#define UFD_SERVER_WIRE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "server/proto.h"

/* A message of @type with every other field zero. */
void ufd_wire_init(struct ufd_msg *m, enum ufd_msg_type type);

/* Send @m (magic and version set here), with @fd attached if >= 0. */
int ufd_wire_send(int sock, struct ufd_msg *m, int fd);

/*
 * Receive one message.  @fdp (may be NULL) gets the first fd attached, or
 * -1; any other fd is closed, and so is every fd of a record that is not
 * a valid message.  @cred (may be NULL) gets the sender's credentials and
 * *@has_cred whether there were any.  Returns as described above.
 */
int ufd_wire_recv(int sock, struct ufd_msg *m, int *fdp, struct ucred *cred,
		  bool *has_cred);

#endif
