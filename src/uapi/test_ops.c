/* SPDX-License-Identifier: MIT */
/*
 * IOMMU_TEST_CMD: the selftest's mock "driver" operations, implemented on
 * the engine's public API.  The selftest's access object lives here: an
 * engine access plus the list of page ranges the test pinned through it
 * (ACCESS_PAGES items, numbered from 0).  Its fd is made by the transport
 * (make_fd); the ID field of later commands carries that fd number, which
 * the transport resolves back to the access.
 *
 * Locking: the items list is touched only under the engine lock (from the
 * access's unmap op, which the engine calls with it held) or by the single
 * call in flight on the access; a per-access mutex covers the latter.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "uapi/ucmd.h"

#define TEST_PAGE_SIZE 4096ULL
#define TEST_RW_MAX (16ULL * 1024 * 1024)

struct test_access_item {
	struct test_access_item *next;
	uint64_t iova;
	uint64_t length;
	uint32_t id;
};

struct test_access {
	struct ufd_ctx *ctx;
	uint32_t access_id;
	pthread_mutex_t lock;
	struct test_access_item *items;
	uint32_t next_item_id;
	bool pins;
};

static void test_access_unmap(void *priv, uint64_t iova, uint64_t length)
{
	struct test_access *ta = priv;
	struct test_access_item **p = &ta->items, *item;
	uint64_t last = iova + length - 1;

	pthread_mutex_lock(&ta->lock);
	while ((item = *p)) {
		if (iova > item->iova + item->length - 1 || last < item->iova) {
			p = &item->next;
			continue;
		}
		*p = item->next;
		ufd_access_unpin(ta->ctx, ta->access_id, item->iova,
				 item->length);
		free(item);
	}
	pthread_mutex_unlock(&ta->lock);
}

static void test_access_destroy(void *priv)
{
	struct test_access *ta = priv;
	struct test_access_item *item;

	while ((item = ta->items)) {
		ta->items = item->next;
		free(item);
	}
	pthread_mutex_destroy(&ta->lock);
	free(ta);
}

static const struct ufd_access_ops test_access_ops_pin = {
	.unmap = test_access_unmap,
	.destroy = test_access_destroy,
};

static const struct ufd_access_ops test_access_ops = {
	.destroy = test_access_destroy,
};

/* The test_access behind an access fd number given by the caller. */
static int test_access_get(struct ufd_ucmd *ucmd, uint32_t fd,
			   struct test_access **out);

static int op_add_reserved(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint64_t last;

	if (!cmd->add_reserved.length)
		return -EINVAL;
	if (__builtin_add_overflow(cmd->add_reserved.start,
				   cmd->add_reserved.length - 1, &last))
		return -EOVERFLOW;
	return ufd_ioas_reserve(ucmd->ctx, cmd->id, cmd->add_reserved.start,
				last);
}

static int op_check_refs(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint64_t uptr = cmd->check_refs.uptr, length = cmd->check_refs.length;
	struct ufd_source *mem = ucmd->caller->mem;
	uint64_t end;

	if (length % TEST_PAGE_SIZE || uptr % TEST_PAGE_SIZE ||
	    __builtin_add_overflow(uptr, length, &end))
		return -EINVAL;
	for (; length; length -= TEST_PAGE_SIZE, uptr += TEST_PAGE_SIZE) {
		unsigned int pins;
		uint64_t ident;
		int rc;

		/* The page must exist, as get_user_pages would insist. */
		rc = mem->ops->page_ident(mem, uptr, &ident);
		if (rc)
			return rc;
		rc = ufd_engine_page_pins(ufd_ctx_engine(ucmd->ctx), mem,
					  uptr, &pins);
		if (rc)
			return rc;
		if (pins != cmd->check_refs.refs)
			return -EIO;
	}
	return 0;
}

static int op_create_access(struct ufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	const struct ufd_caller *caller = ucmd->caller;
	uint32_t flags = cmd->create_access.flags;
	struct test_access *ta;
	uint32_t access_id;
	int fd, rc;

	if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
		return -EOPNOTSUPP;
	if (!caller->ops || !caller->ops->make_fd)
		return -EOPNOTSUPP;
	ta = calloc(1, sizeof(*ta));
	if (!ta)
		return -ENOMEM;
	pthread_mutex_init(&ta->lock, NULL);
	ta->ctx = ucmd->ctx;
	ta->pins = flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES;
	rc = ufd_access_create(ucmd->ctx, cmd->id,
			       ta->pins ? &test_access_ops_pin :
					  &test_access_ops,
			       ta, &access_id);
	if (rc) {
		test_access_destroy(ta);
		return rc;
	}
	ta->access_id = access_id;
	fd = caller->ops->make_fd(caller, ucmd->ctx, UFD_FD_ACCESS, access_id);
	if (fd < 0) {
		ufd_access_destroy(ucmd->ctx, access_id);
		return fd;
	}
	cmd->create_access.out_access_fd = (uint32_t)fd;
	rc = ucmd_respond(ucmd);
	if (rc) {
		caller->ops->unmake_fd(caller, fd);
		ufd_access_destroy(ucmd->ctx, access_id);
	}
	return rc;
}

static int op_access_pages(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	struct ufd_source *mem = ucmd->caller->mem;
	uint64_t iova = cmd->access_pages.iova;
	uint64_t length = cmd->access_pages.length;
	uint64_t uptr = cmd->access_pages.uptr;
	struct test_access_item *item;
	struct test_access *ta;
	uint64_t npages, i;
	void **hosts;
	int rc;

	if (length > TEST_RW_MAX)
		return -ENOMEM;
	if (cmd->access_pages.flags & ~MOCK_FLAGS_ACCESS_WRITE)
		return -EOPNOTSUPP;
	rc = test_access_get(ucmd, cmd->id, &ta);
	if (rc)
		return rc;
	if (!ta->pins)
		return -EOPNOTSUPP;
	if (!length)
		return -EINVAL;
	if (iova + length - 1 < iova)
		return -EOVERFLOW;
	npages = ((iova + length - 1) / TEST_PAGE_SIZE) -
		 iova / TEST_PAGE_SIZE + 1;
	hosts = calloc(npages, sizeof(*hosts));
	item = calloc(1, sizeof(*item));
	if (!hosts || !item) {
		rc = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_lock(&ta->lock);
	rc = ufd_access_pin(ucmd->ctx, ta->access_id, iova, length,
			    cmd->access_pages.flags & MOCK_FLAGS_ACCESS_WRITE,
			    hosts);
	if (rc)
		goto out_unlock;
	if (uptr) {
		/* The pinned pages must be the ones the caller sees at uptr. */
		uint64_t base = uptr - (iova % TEST_PAGE_SIZE);

		for (i = 0; i != npages; i++) {
			uint64_t want, got;

			rc = mem->ops->page_ident(mem, base + i * TEST_PAGE_SIZE,
						  &want);
			/* Asked of the source that pinned it (a file map's). */
			if (!rc)
				rc = ufd_engine_host_ident(
					ufd_ctx_engine(ucmd->ctx),
					(uintptr_t)hosts[i], &got);
			if (rc == -ENOENT)
				rc = mem->ops->host_ident(mem, hosts[i], &got);
			if (!rc && want != got)
				rc = -EBADE;
			if (rc)
				goto out_unpin;
		}
	}
	item->iova = iova;
	item->length = length;
	item->id = ta->next_item_id++;
	item->next = ta->items;
	ta->items = item;
	cmd->access_pages.out_access_pages_id = item->id;
	rc = ucmd_respond(ucmd);
	if (rc) {
		ta->items = item->next;
		goto out_unpin;
	}
	item = NULL;
	goto out_unlock;
out_unpin:
	ufd_access_unpin(ucmd->ctx, ta->access_id, iova, length);
out_unlock:
	pthread_mutex_unlock(&ta->lock);
out_free:
	free(item);
	free(hosts);
	return rc;
}

static int op_destroy_access_pages(struct ufd_ucmd *ucmd,
				   struct iommu_test_cmd *cmd)
{
	struct test_access_item **p, *item;
	struct test_access *ta;
	int rc;

	rc = test_access_get(ucmd, cmd->id, &ta);
	if (rc)
		return rc;
	pthread_mutex_lock(&ta->lock);
	for (p = &ta->items; (item = *p); p = &item->next) {
		if (item->id == cmd->destroy_access_pages.access_pages_id) {
			*p = item->next;
			ufd_access_unpin(ucmd->ctx, ta->access_id, item->iova,
					 item->length);
			free(item);
			pthread_mutex_unlock(&ta->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&ta->lock);
	return -ENOENT;
}

static int op_access_rw(struct ufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->access_rw.flags;
	uint64_t length = cmd->access_rw.length;
	struct test_access *ta;
	unsigned int eflags = 0;
	void *tmp;
	int rc;

	if (length > TEST_RW_MAX)
		return -ENOMEM;
	if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH))
		return -EOPNOTSUPP;
	rc = test_access_get(ucmd, cmd->id, &ta);
	if (rc)
		return rc;
	tmp = calloc(1, length ? length : 1);
	if (!tmp)
		return -ENOMEM;
	if (flags & MOCK_ACCESS_RW_WRITE) {
		eflags |= UFD_ACCESS_RW_WRITE;
		rc = copy_from_caller(ucmd->caller, tmp, cmd->access_rw.uptr,
				      length);
		if (rc)
			goto out;
	}
	if (flags & MOCK_ACCESS_RW_SLOW_PATH)
		eflags |= UFD_ACCESS_RW_SLOW;
	rc = ufd_access_rw(ucmd->ctx, ta->access_id, cmd->access_rw.iova, tmp,
			   length, eflags);
	if (rc)
		goto out;
	if (!(flags & MOCK_ACCESS_RW_WRITE))
		rc = copy_to_caller(ucmd->caller, cmd->access_rw.uptr, tmp,
				    length);
out:
	free(tmp);
	return rc;
}

static int op_access_replace_ioas(struct ufd_ucmd *ucmd,
				  struct iommu_test_cmd *cmd)
{
	struct test_access *ta;
	int rc;

	rc = test_access_get(ucmd, cmd->id, &ta);
	if (rc)
		return rc;
	return ufd_access_replace_ioas(ucmd->ctx, ta->access_id,
				       cmd->access_replace_ioas.ioas_id);
}

/* The test operations that came after 6.12, and the kernel that has them. */
static enum ufd_kernel test_op_since(uint32_t op)
{
	switch (op) {
	case IOMMU_TEST_OP_DEV_CHECK_CACHE:
	case IOMMU_TEST_OP_TRIGGER_VEVENT:
	case IOMMU_TEST_OP_PASID_ATTACH:
	case IOMMU_TEST_OP_PASID_REPLACE:
	case IOMMU_TEST_OP_PASID_DETACH:
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
	case IOMMU_TEST_OP_DMABUF_GET:
	case IOMMU_TEST_OP_DMABUF_REVOKE:
		return UFD_KERNEL_7_3;
	default:
		return UFD_KERNEL_ANY;
	}
}

int test_ops_cmd(struct ufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	if (test_op_since(cmd->op) > ufd_caller_kernel(ucmd->caller)->kernel)
		return -EOPNOTSUPP; /* unknown to the caller's kernel */
	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return op_add_reserved(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return op_check_refs(ucmd, cmd);
	case IOMMU_TEST_OP_CREATE_ACCESS:
		return op_create_access(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_PAGES:
		return op_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		return op_destroy_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return op_access_rw(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		return op_access_replace_ioas(ucmd, cmd);
	case IOMMU_TEST_OP_DMABUF_GET:
		return test_op_dmabuf_get(ucmd, cmd);
	case IOMMU_TEST_OP_DMABUF_REVOKE:
		return test_op_dmabuf_revoke(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		/* Only sizes internal batches in the kernel; nothing here. */
		if (cmd->memory_limit.limit < sizeof(uint64_t) + sizeof(uint32_t))
			return -EINVAL;
		return 0;
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
	case IOMMU_TEST_OP_MD_CHECK_MAP:
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
	case IOMMU_TEST_OP_DIRTY:
	case IOMMU_TEST_OP_TRIGGER_IOPF:
	case IOMMU_TEST_OP_DEV_CHECK_CACHE:
	case IOMMU_TEST_OP_PASID_ATTACH:
	case IOMMU_TEST_OP_PASID_REPLACE:
	case IOMMU_TEST_OP_PASID_DETACH:
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
		return test_ops_device(ucmd);
	case IOMMU_TEST_OP_TRIGGER_VEVENT:
		return viommu_ops_trigger_vevent(ucmd);
	default:
		return -EOPNOTSUPP;
	}
}

/* ---- the access fd ---- */

static int test_access_get(struct ufd_ucmd *ucmd, uint32_t fd,
			   struct test_access **out)
{
	const struct ufd_caller *caller = ucmd->caller;
	uint32_t access_id;
	void *priv;
	int rc;

	if (!caller->ops || !caller->ops->resolve_fd)
		return -EBADFD;
	rc = caller->ops->resolve_fd(caller, ucmd->ctx, (int)fd,
				     UFD_FD_ACCESS, &access_id);
	if (rc)
		return rc == -ENOENT ? -ENOENT : -EBADFD;
	rc = ufd_access_get_priv(ucmd->ctx, access_id, &priv);
	if (rc)
		return rc;
	*out = priv;
	return 0;
}
