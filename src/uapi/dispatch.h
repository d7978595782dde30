/* SPDX-License-Identifier: MIT */
/*
 * The uapi dispatch layer: turns one ioctl on a /dev/iommu context (or on a
 * derived fd) into engine calls.  It owns the ABI's general rules exactly
 * once (size field, EINVAL/E2BIG/ENOTTY/EFAULT) and copies every argument in
 * and out through the caller's memory source, so a bad pointer is -EFAULT
 * and never a crash.  It never allocates pages and never sees an fd table:
 * whatever needs the caller's fds goes through struct ufd_caller.
 *
 * Every function returns a value >= 0 on success or a negative errno.
 */
#ifndef UFD_UAPI_DISPATCH_H
#define UFD_UAPI_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "uiommufd.h"

/* Kinds of file descriptor that an ioctl can create or name. */
enum ufd_fd_kind {
	UFD_FD_IOMMUFD = 0, /* an open of /dev/iommu (or /dev/vfio/vfio) */
	UFD_FD_ACCESS,      /* the selftest's access object (CREATE_ACCESS) */
	UFD_FD_FAULT,       /* a fault queue (FAULT_QUEUE_ALLOC) */
	UFD_FD_VFIO_CONTAINER, /* /dev/vfio/vfio: the legacy type1 container */
	UFD_FD_VFIO_GROUP,  /* /dev/vfio/N: obj_id is the group number N */
	UFD_FD_VFIO_DEVICE, /* /dev/vfio/devices/vfioM, or a group's
			       GET_DEVICE_FD: obj_id is the cdev number M */
	UFD_FD_DMABUF,      /* the selftest's dma-buf (DMABUF_GET): obj_id
			       names it in src/uapi/ioas_file_ops.c */
	UFD_FD_VEVENTQ,     /* a vIOMMU event queue (VEVENTQ_ALLOC) */
	UFD_FD_SRIOV_NUMVFS, /* /sys/bus/pci/devices/BDF/sriov_numvfs of an
				emulated PF: obj_id ufd_vfio_routing_index() */
	UFD_FD_NR_KINDS
};

/* A file is one of these; the transports keep it (see ufd_file_ops). */
struct ufd_file;

struct ufd_caller;

struct ufd_bar_map;

/*
 * What the transport (in-process shim, or a server) provides for one call:
 * the caller's memory, its credentials, and its fd table.
 */
struct ufd_caller_ops {
	/*
	 * Create a new fd in the caller that stands for object @obj_id of
	 * @ctx (an access or a fault queue).  The fd holds a reference on the
	 * context; closing its last copy releases the object.  Returns the fd
	 * number or -errno.
	 */
	int (*make_fd)(const struct ufd_caller *caller, struct ufd_ctx *ctx,
		       enum ufd_fd_kind kind, uint32_t obj_id);
	/*
	 * Undo make_fd before the ioctl returns (the reply could not be
	 * written).  The object is destroyed by the caller of this hook.
	 */
	void (*unmake_fd)(const struct ufd_caller *caller, int fd);
	/*
	 * Resolve an fd number found in an ioctl argument to the object it
	 * stands for.  -EBADF if it is no fd of ours of that kind, -ENOENT if
	 * it belongs to another context.
	 */
	int (*resolve_fd)(const struct ufd_caller *caller, struct ufd_ctx *ctx,
			  int fd, enum ufd_fd_kind kind, uint32_t *obj_id);
	/*
	 * Create a new fd in the caller for a copy of @file (a VFIO device
	 * file a group hands out), close-on-exec as the kernel's are.  On
	 * success the new file owns @file's ctx reference and priv; on
	 * failure the caller still does.  The fd number, or -errno.
	 * Undone, before the reply, with unmake_fd (which then releases the
	 * file with destroy_obj false).
	 */
	int (*make_file)(const struct ufd_caller *caller,
			 const struct ufd_file *file);
	/*
	 * The file that the caller's fd @fd refers to, whatever its kind:
	 * *@out gets a copy of it (its ctx and priv stay valid, and the
	 * file alive, until the call returns, as the kernel's fget holds a
	 * file).  -EBADF if @fd is no emulated file.
	 */
	int (*resolve_file)(const struct ufd_caller *caller, int fd,
			    struct ufd_file *out);
	/*
	 * A new fd in the transport's own process for whatever the caller's
	 * fd @fd is (an eventfd given to VFIO_DEVICE_SET_IRQS), which the
	 * callee owns and closes.  -EBADF if the caller has no such fd.
	 */
	int (*take_fd)(const struct ufd_caller *caller, int fd);
	/*
	 * Does [@vaddr, @vaddr + @len) of the caller lie wholly inside one
	 * mmap of an emulated file (a device BAR)?  0 and *@out, or -ENOENT.
	 * NULL where no file can be mapped (in process: no devices).
	 */
	int (*bar_lookup)(const struct ufd_caller *caller, uint64_t vaddr,
			  uint64_t len, struct ufd_bar_map *out);
	/*
	 * The caller's credentials as of now, for the few commands that
	 * charge or check them (open, IOMMU_OPTION, MAP_FILE,
	 * CHANGE_PROCESS): a transport that would pay system calls to know
	 * them reads them only here.  NULL: struct ufd_caller.cred is
	 * current.
	 */
	void (*cred)(const struct ufd_caller *caller, struct ufd_cred *out);
};

/*
 * The kernels the dispatch layer can behave as; the values order them.
 * A table row's `since` is the first one that has the command.
 */
enum ufd_kernel {
	UFD_KERNEL_ANY = 0,        /* every personality has it */
	UFD_KERNEL_6_12 = 0x060c,
	UFD_KERNEL_7_3 = 0x0703,
};

/*
 * A personality: what differs between the kernels, one field per
 * difference (src/uapi/personality.c sets them; docs/kernels.md lists
 * them).
 */
struct ufd_personality {
	const char *name;          /* "6.12", as uiommufd-run --kernel= */
	enum ufd_kernel kernel;
	/* HWPT_INVALIDATE naming a paging HWPT (6.12 -ENOENT, 7.3 -EINVAL) */
	int invalidate_paging_errno;
	/* MOCK_FLAGS_DEVICE_HUGE_IOVA exists (6.12; gone in 7.x) */
	bool mock_huge_iova_flag;
	/*
	 * The mock's paging HWPTs are an iommupt table of CPU-page IOPTEs
	 * whose selftest data may pick the page table type (7.x), not 2 KiB
	 * IOPTEs (6.12)
	 */
	bool mock_iommupt;
	/*
	 * /dev/iommu has mmap (7.x: a vIOMMU's pages, -ENXIO elsewhere); 6.12's
	 * file has none (-ENODEV)
	 */
	bool iommufd_mmap;
	/* IOMMU_HWPT_ALLOC_PASID, and with it PASID attachments (7.x) */
	bool pasid;
};

extern const struct ufd_personality ufd_personality_6_12;
extern const struct ufd_personality ufd_personality_7_3;

/* By name ("6.12", "7.3"; NULL or "" the newest), or NULL if unknown. */
const struct ufd_personality *ufd_personality_find(const char *name);
/* The @i-th personality, oldest first; NULL past the last. */
const struct ufd_personality *ufd_personality_at(unsigned int i);
/* The default: the newest kernel. */
const struct ufd_personality *ufd_personality_newest(void);

/*
 * A snapshot of the caller's memory [addr, addr + len) that came with the
 * call (server mode's argument window, proto.h).  Reads of it are served
 * from buf; writes to it are kept in buf and recorded in [dirty_lo,
 * dirty_hi) for the transport to write back, and when !writable (the
 * pages were not shown writable) also go to the caller's memory, whose
 * answer (-EFAULT) is theirs.  buf may be shared with the caller, who can
 * change it meanwhile: the layer only ever copies out of it.
 */
struct ufd_caller_window {
	uint64_t addr;
	size_t len;
	uint8_t *buf;
	bool writable;
	size_t dirty_lo, dirty_hi; /* dirty_lo == dirty_hi: nothing written */
};

/* Copies from and to a caller's memory, through its window if any. */
int ufd_caller_read(const struct ufd_caller *caller, void *dst,
		    uint64_t uptr, size_t len);
int ufd_caller_write(const struct ufd_caller *caller, uint64_t uptr,
		     const void *src, size_t len);

struct ufd_caller {
	const struct ufd_caller_ops *ops;
	struct ufd_engine *eng;   /* the engine the transport serves */
	struct ufd_source *mem;   /* the calling process's memory */
	struct ufd_caller_window *win; /* NULL: none */
	struct ufd_cred cred;     /* who is calling */
	void *priv;               /* transport's own data */
	/* the kernel to behave as; NULL: ufd_personality_newest() */
	const struct ufd_personality *kernel;
	/* answer the uiommufd extensions ENOTTY, as a kernel does
	 * (uiommufd-run --no-extensions) */
	bool no_extensions;
};

/* @caller's credentials, read now (see ufd_caller_ops.cred). */
static inline void ufd_caller_cred(const struct ufd_caller *caller,
				   struct ufd_cred *out)
{
	if (caller->ops && caller->ops->cred)
		caller->ops->cred(caller, out);
	else
		*out = caller->cred;
}

/* The personality of @caller's call. */
static inline const struct ufd_personality *
ufd_caller_kernel(const struct ufd_caller *caller)
{
	return caller->kernel ? caller->kernel : ufd_personality_newest();
}

/* One row of the command table; shared by dispatch, the CLI and tracing. */
struct ufd_ioctl_desc {
	unsigned long cmd;      /* full ioctl number */
	const char *name;
	uint32_t size;          /* sizeof the newest struct we know */
	uint32_t min_size;      /* offsetofend of the first version's last field */
	enum ufd_kernel since;  /* the first kernel that has it */
};

/*
 * One emulated open file as the dispatch layer sees it: what it stands
 * for.  The transport (the shim, the daemon) owns the struct and keeps it
 * alive while a call is in flight; the file holds one reference on @ctx
 * until ufd_file_release().
 */
struct ufd_file {
	enum ufd_fd_kind kind;
	struct ufd_ctx *ctx; /* NULL for a VFIO group or an unbound device */
	uint32_t obj_id;    /* the access or fault object; 0 for a context */
	void *priv;         /* the kind's own state: made by open, freed by
			       release (VFIO files) */
};

/* Where a range of the caller's address space maps a file (bar_lookup). */
struct ufd_bar_map {
	struct ufd_file file;  /* the file mapped (valid until the call
				  returns, as resolve_file's) */
	unsigned int region;   /* its region (a VFIO BAR index) */
	uint64_t region_off;   /* region offset of the range's first byte */
};

/* Where an mmap of a file lands (struct ufd_file_ops.mmap). */
struct ufd_file_mmap {
	unsigned int region;   /* the file's region (a VFIO BAR index) */
	uint64_t region_off;   /* offset of the mapping in the region */
	bool trapped;          /* accesses go through ufd_file_mmio() */
};

/*
 * What each kind of file does, as the kernel's file_operations: one table
 * per kind, called by every transport and by the fuzzer.  A NULL op gets
 * the kernel's answer for a file without it: ioctl -ENOTTY, read and write
 * -EINVAL; a positioned read or write (pread, pwrite: @pos non-NULL) on a
 * file that is not seekable is -ESPIPE.
 */
struct ufd_file_ops {
	const char *name;   /* for traces: "iommufd", "access", ... */
	bool seekable;      /* pread/pwrite allowed */
	/*
	 * open(2) of the kind's node, number @index (a group or cdev number;
	 * 0 for /dev/iommu and /dev/vfio/vfio), with open(2) @flags: fills
	 * @file (kind and obj_id are set by the caller).  -ENOENT for a node
	 * that does not exist, -EBUSY where the kernel allows one open.
	 */
	int (*open)(struct ufd_file *file, const struct ufd_caller *caller,
		    uint32_t index, int flags);
	/*
	 * mmap(2) of [@offset, @offset + @len) with @prot (PROT_*) and
	 * MAP_SHARED: where it lands, or -EINVAL (no such region, or not
	 * mmappable), -EACCES (@prot more than the region allows).
	 */
	int (*mmap)(const struct ufd_file *file, uint64_t offset, uint64_t len,
		    int prot, struct ufd_file_mmap *out);
	/*
	 * A load (@write false: *@val gets it) or store of @size bytes (1, 2,
	 * 4, 8) at @off of region @region of a trapped mapping.  0 or -errno.
	 */
	int (*mmio)(const struct ufd_file *file, unsigned int region,
		    uint64_t off, unsigned int size, bool write, uint64_t *val);
	/*
	 * One more mapping of region @region exists (the kernel's vma open),
	 * or one is gone (close): what a mapping keeps busy.  NULL: nothing.
	 */
	int (*map_get)(const struct ufd_file *file, unsigned int region);
	void (*map_put)(const struct ufd_file *file, unsigned int region);
	long (*ioctl)(const struct ufd_file *file,
		      const struct ufd_caller *caller, unsigned long cmd,
		      uint64_t arg);
	long (*read)(const struct ufd_file *file,
		     const struct ufd_caller *caller, uint64_t buf,
		     uint64_t count, const uint64_t *pos);
	long (*write)(const struct ufd_file *file,
		      const struct ufd_caller *caller, uint64_t buf,
		      uint64_t count, const uint64_t *pos);
	/* POLLIN etc. that the file would report now (0 if NULL). */
	unsigned int (*poll)(const struct ufd_file *file);
	/*
	 * The last close: give up the object (unless @destroy_obj is false:
	 * the dispatch layer destroyed it already) and the ctx reference.
	 */
	void (*release)(struct ufd_file *file, bool destroy_obj);
	/* The name of ioctl @cmd on this kind of file, or NULL. */
	const char *(*ioctl_name)(unsigned long cmd);
};

/* The ops of @kind (never NULL for a kind of this enum). */
const struct ufd_file_ops *ufd_file_ops(enum ufd_fd_kind kind);

/* The calls, with the defaults above applied (open: -ENODEV, mmap:
 * -ENODEV, mmio: -EIO when the kind has none). */
int ufd_file_open(struct ufd_file *file, const struct ufd_caller *caller,
		  enum ufd_fd_kind kind, uint32_t index, int flags);
int ufd_file_mmap(const struct ufd_file *file, uint64_t offset, uint64_t len,
		  int prot, struct ufd_file_mmap *out);
int ufd_file_mmio(const struct ufd_file *file, unsigned int region,
		  uint64_t off, unsigned int size, bool write, uint64_t *val);
int ufd_file_map_get(const struct ufd_file *file, unsigned int region);
void ufd_file_map_put(const struct ufd_file *file, unsigned int region);
long ufd_file_ioctl(const struct ufd_file *file,
		    const struct ufd_caller *caller, unsigned long cmd,
		    uint64_t arg);
long ufd_file_read(const struct ufd_file *file,
		   const struct ufd_caller *caller, uint64_t buf,
		   uint64_t count, const uint64_t *pos);
long ufd_file_write(const struct ufd_file *file,
		    const struct ufd_caller *caller, uint64_t buf,
		    uint64_t count, const uint64_t *pos);
unsigned int ufd_file_poll(const struct ufd_file *file);
void ufd_file_release(struct ufd_file *file, bool destroy_obj);
/* "?" when the kind has no name for @cmd. */
const char *ufd_file_ioctl_name(enum ufd_fd_kind kind, unsigned long cmd);

/*
 * Run ioctl @cmd with argument @arg (a pointer in the caller's memory, or
 * a plain integer for the VFIO calls that take one) on @ctx.
 */
long ufd_dispatch_ioctl(struct ufd_ctx *ctx, const struct ufd_caller *caller,
			unsigned long cmd, uint64_t arg);

/*
 * read() and write() on a fault queue's fd (a transport calls these for
 * the fds it made with UFD_FD_FAULT): whole fault groups of 40-byte
 * records out, 8-byte responses in.  Returns bytes or -errno (-ESPIPE for
 * a count that is not a multiple of the record size; 0 when empty).
 */
long ufd_dispatch_fault_read(struct ufd_ctx *ctx,
			     const struct ufd_caller *caller, uint32_t fault_id,
			     uint64_t buf, uint64_t count);
long ufd_dispatch_fault_write(struct ufd_ctx *ctx,
			      const struct ufd_caller *caller,
			      uint32_t fault_id, uint64_t buf, uint64_t count);

/*
 * read() on a vIOMMU event queue's fd: 8-byte headers, each followed by
 * its event's data.  -EINVAL for a count shorter than a header or when the
 * first event does not fit; 0 when empty.
 */
long ufd_dispatch_veventq_read(struct ufd_ctx *ctx,
			       const struct ufd_caller *caller,
			       uint32_t veventq_id, uint64_t buf,
			       uint64_t count);

/* The command table, for tools: returns the row for @cmd or NULL. */
const struct ufd_ioctl_desc *ufd_ioctl_lookup(unsigned long cmd);
/* Iterate the table: row @i or NULL past the end. */
const struct ufd_ioctl_desc *ufd_ioctl_at(unsigned int i);
/* Iterate the extension table (<linux/iommufd_ext.h>): NULL past it. */
const struct ufd_ioctl_desc *ufd_ext_ioctl_at(unsigned int i);
/* Does personality @kernel have the command of @desc? */
bool ufd_ioctl_has(const struct ufd_ioctl_desc *desc,
		   const struct ufd_personality *kernel);

#endif
