/* SPDX-License-Identifier: MIT */
/*
 * The uiommufd daemon of server mode (daemon.c): the engine behind every
 * /dev/iommu that the programs of one launcher open.  The launcher makes
 * it, starts the program, runs it, and ends it when the program ends.
 * See daemon.c for the model and src/server/proto.h for the protocol.
 */
#ifndef UFD_SERVER_DAEMON_H
#define UFD_SERVER_DAEMON_H

#include <stdbool.h>

struct ufd_daemon;

struct ufd_personality;

struct ufd_daemon_config {
	/* Capabilities granted to every client (uiommufd-run --cap). */
	bool cap_sys_resource;
	bool cap_ipc_lock;
	/* Trace requests and releases to stderr. */
	bool debug;
	/* The emulated PCI devices (uapi/vfio.h's spec), or NULL. */
	const char *device_spec;
	/*
	 * Run the engine's invariant check (ufd_engine_check) every this
	 * many milliseconds, aborting the daemon if it finds damage (soak
	 * tests); 0: never.
	 */
	unsigned int self_check_ms;
	/* The kernel to behave as (uiommufd-run --kernel); NULL: newest. */
	const struct ufd_personality *kernel;
	/* The uiommufd extensions answer ENOTTY (uiommufd-run
	 * --no-extensions). */
	bool no_extensions;
	/* The engine's system-wide PASID capacity (--pasid-capacity). */
	bool pasid_capacity_set;
	uint32_t pasid_capacity;
};

/*
 * Make a daemon and its listening socket (an abstract unix socket name,
 * private to this daemon by its random part and by the peer uid check).
 * Nothing runs yet.  0 or -errno.
 */
int ufd_daemon_new(const struct ufd_daemon_config *cfg,
		   struct ufd_daemon **out);

/* The address for UIOMMUFD_SOCKET ("@name"). */
const char *ufd_daemon_address(const struct ufd_daemon *d);

/* The listening fd (the launcher's child closes it before exec). */
int ufd_daemon_listen_fd(const struct ufd_daemon *d);

/*
 * Start serving (an accept thread and a release thread).  Call it after
 * forking the program and with the signals the caller wants to handle
 * itself blocked: the threads inherit the mask.  0 or -errno.
 */
int ufd_daemon_start(struct ufd_daemon *d);

/*
 * Stop accepting connections.  The process is expected to exit soon
 * after; state is not torn down (the kernel frees everything at exit).
 */
void ufd_daemon_stop(struct ufd_daemon *d);

/*
 * For the protocol fuzz target (tests/fuzz/fuzz_proto.c): serve the
 * channel @fd (one end of a SOCK_SEQPACKET socketpair) on the calling
 * thread, exactly as a connection the accept thread took, until the
 * client closes it or misbehaves; @fd is closed then.  No peer uid check
 * (there is no peer to ask): every message's credentials are still
 * checked.  0 or -errno (before serving).
 */
int ufd_daemon_serve(struct ufd_daemon *d, int fd);

/* For tests: number of live files (contexts and derived) and channels. */
unsigned int ufd_daemon_nr_files(struct ufd_daemon *d);

#endif
