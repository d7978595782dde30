/* SPDX-License-Identifier: MIT */
/*
 * File-backed mappings: IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_CHANGE_PROCESS and
 * the selftest's dma-bufs (IOMMU_TEST_OP_DMABUF_GET / _REVOKE).
 *
 * Model.  MAP_FILE of an fd that is one of our dma-bufs maps a range of
 * the dma-buf's memory source; of any other fd, the transport hands us a
 * copy of the caller's fd (take_fd: pidfd_getfd in the daemon, dup in
 * process), the engine maps the file's range in our process
 * (ufd_source_file(), src/engine/source_file.c) and the copy is closed
 * again: the mapping is what holds the memory.  The pages are charged to
 * the calling process (its credentials at the call, as the kernel charges
 * current), and CHANGE_PROCESS moves that charge to a new caller.
 *
 * A dma-buf is a memfd of the requested size that the transport's process
 * makes and maps once (one file source for the whole buffer), behind an
 * emulated file of kind UFD_FD_DMABUF; the fd's obj_id names it in a
 * table here.  The buffer lives until its fd's last close and the last
 * mapping of it are gone (the source is reference counted).  Revoking it
 * makes new maps fail with ENODEV and DMA through every domain that maps
 * it fault (ufd_source_file_revoke()); restoring it undoes both.
 *
 * Byte ranges are [start, start + length).  Locking: dmabuf_lock (a leaf)
 * guards the table; the engine locks the rest.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"


/* ---- dma-bufs ------------------------------------------------------------ */

struct dmabuf {
	struct dmabuf *next;
	uint32_t id;
	uint64_t length;
	struct ufd_source *src; /* the whole buffer; one reference */
};

static pthread_mutex_t dmabuf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dmabuf *dmabufs;
static uint32_t dmabuf_next_id = 1;

/* A reference on dma-buf @id's source and its length, or NULL. */
static struct ufd_source *dmabuf_get_source(uint32_t id, uint64_t *length)
{
	struct ufd_source *src = NULL;
	struct dmabuf *b;

	pthread_mutex_lock(&dmabuf_lock);
	for (b = dmabufs; b; b = b->next) {
		if (b->id == id) {
			src = b->src;
			ufd_source_get(src);
			*length = b->length;
			break;
		}
	}
	pthread_mutex_unlock(&dmabuf_lock);
	return src;
}

static void dmabuf_file_release(struct ufd_file *file, bool destroy_obj)
{
	struct dmabuf **p, *b = NULL;

	pthread_mutex_lock(&dmabuf_lock);
	for (p = &dmabufs; *p; p = &(*p)->next) {
		if ((*p)->id == file->obj_id) {
			b = *p;
			*p = b->next;
			break;
		}
	}
	pthread_mutex_unlock(&dmabuf_lock);
	if (b) {
		ufd_source_put(b->src);
		free(b);
	}
	if (file->ctx)
		ufd_ctx_put(file->ctx);
	file->ctx = NULL;
}

const struct ufd_file_ops ufd_dmabuf_file_ops = {
	.name = "dmabuf",
	.release = dmabuf_file_release,
};

int test_op_dmabuf_get(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	const struct ufd_caller *caller = ucmd->caller;
	uint64_t length = cmd->dmabuf_get.length;
	struct dmabuf *b;
	int mfd, fd, rc;

	if (!caller->ops || !caller->ops->make_fd)
		return -EOPNOTSUPP;
	if (!length || cmd->dmabuf_get.open_flags & ~(uint32_t)O_CLOEXEC)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	mfd = memfd_create("uiommufd-dmabuf", MFD_CLOEXEC);
	if (mfd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* Whole pages, as the kernel's buffer is allocated. */
	if (ftruncate(mfd, (off_t)((length + 4095) & ~4095ULL))) {
		rc = -ENOMEM;
		close(mfd);
		goto err_free;
	}
	rc = ufd_source_file(mfd, 0, length, true, &b->src);
	close(mfd);
	if (rc)
		goto err_free;
	b->length = length;
	pthread_mutex_lock(&dmabuf_lock);
	b->id = dmabuf_next_id++;
	if (!dmabuf_next_id)
		dmabuf_next_id = 1;
	b->next = dmabufs;
	dmabufs = b;
	pthread_mutex_unlock(&dmabuf_lock);

	fd = caller->ops->make_fd(caller, ucmd->ctx, UFD_FD_DMABUF, b->id);
	if (fd < 0) {
		struct ufd_file file = { .kind = UFD_FD_DMABUF,
					 .obj_id = b->id };

		dmabuf_file_release(&file, true);
		return fd;
	}
	/* The kernel returns the new fd as the ioctl's value. */
	return fd;

err_free:
	free(b);
	return rc;
}

int test_op_dmabuf_revoke(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	const struct ufd_caller *caller = ucmd->caller;
	struct ufd_source *src;
	struct ufd_file file;
	uint64_t length;
	int rc;

	if (!caller->ops || !caller->ops->resolve_file ||
	    caller->ops->resolve_file(caller, cmd->dmabuf_revoke.dmabuf_fd,
				      &file))
		return -EBADF;
	if (file.kind != UFD_FD_DMABUF)
		return -EINVAL;
	src = dmabuf_get_source(file.obj_id, &length);
	if (!src)
		return -EBADF;
	rc = ufd_source_file_revoke(ufd_ctx_engine(ucmd->ctx), src,
				    cmd->dmabuf_revoke.revoked);
	ufd_source_put(src);
	return rc;
}

/* ---- MAP_FILE -------------------------------------------------------------- */

/* The source for @fd's [start, start + length): a reference, or -errno. */
static int map_file_source(const struct ufd_caller *caller, int fd,
			   uint64_t start, uint64_t length, bool writable,
			   struct ufd_source **out)
{
	struct ufd_file file;
	uint64_t size, end;
	int tfd, rc;

	if (caller->ops && caller->ops->resolve_file &&
	    !caller->ops->resolve_file(caller, fd, &file)) {
		/* One of our files: only a dma-buf has memory. */
		if (file.kind != UFD_FD_DMABUF)
			return -EINVAL;
		*out = dmabuf_get_source(file.obj_id, &size);
		if (!*out)
			return -EBADF;
		if (!length || __builtin_add_overflow(start, length, &end) ||
		    end > size) {
			ufd_source_put(*out);
			return -EINVAL;
		}
		return 0;
	}
	if (!caller->ops || !caller->ops->take_fd)
		return -EBADF;
	tfd = caller->ops->take_fd(caller, fd);
	if (tfd < 0)
		return tfd;
	rc = ufd_source_file(tfd, start, length, writable, out);
	close(tfd);
	return rc;
}

int ioas_ops_map_file(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_map_file *cmd = ucmd->cmd;
	const struct ufd_caller *caller = ucmd->caller;
	struct ufd_source *src;
	uint64_t iova = cmd->iova, unmapped;
	struct ufd_cred cred;
	int rc;

	if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX)
		return -EOVERFLOW;
	if (cmd->flags & ~UCMD_MAP_KNOWN_FLAGS)
		return -EOPNOTSUPP;
	rc = map_file_source(caller, cmd->fd, cmd->start, cmd->length,
			     cmd->flags & IOMMU_IOAS_MAP_WRITEABLE, &src);
	if (rc)
		return rc;
	ufd_caller_cred(caller, &cred);
	rc = ufd_ioas_map_file(ucmd->ctx, cmd->ioas_id, &cred, src,
			       cmd->start, cmd->length, &iova,
			       ucmd_map_flags(cmd->flags));
	ufd_source_put(src);
	if (rc)
		return rc;
	cmd->iova = iova;
	rc = ucmd_respond(ucmd);
	if (rc)
		ufd_ioas_unmap(ucmd->ctx, cmd->ioas_id, iova, cmd->length,
			       &unmapped);
	return rc;
}

/* ---- CHANGE_PROCESS ---------------------------------------------------------- */

int ioas_ops_change_process(struct ufd_ucmd *ucmd)
{
	struct iommu_ioas_change_process *cmd = ucmd->cmd;
	struct ufd_cred cred;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ufd_caller_cred(ucmd->caller, &cred);
	return ufd_ctx_change_process(ucmd->ctx, &cred);
}
