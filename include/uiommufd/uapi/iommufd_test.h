/* SPDX-License-Identifier: MIT */
/*
 * uiommufd: the IOMMU_TEST_CMD mock ABI.
 *
 * Binary compatible with Linux drivers/iommu/iommufd/iommufd_test.h, the
 * private interface between the iommufd selftest and the kernel's mock
 * IOMMU driver (CONFIG_IOMMUFD_TEST). Values and layouts are ABI facts; the
 * text is our own. Content is the union of the newest upstream header and
 * what older selftests (Linux 6.12) still use:
 *
 *  - MOCK_FLAGS_DEVICE_HUGE_IOVA (1 << 1) was dropped upstream (replaced by
 *    iommu_hwpt_selftest.pagetable_type) but the 6.12 selftest uses it; the
 *    bit is not reused upstream, so it is kept here.
 *  - struct iommu_test_cmd is 72 bytes both in 6.12 and in the newest
 *    kernel; the members added later only sit inside the union.
 *  - struct iommu_hwpt_selftest is 4 bytes in 6.12 and 8 bytes upstream
 *    (pagetable_type). Minimum length is the end of iotlb; a zero
 *    pagetable_type means MOCK_IOMMUPT_DEFAULT, so both sizes mean the same.
 *
 * The include guard is the kernel's, so this file can replace it.
 */
#ifndef _UAPI_IOMMUFD_TEST_H
#define _UAPI_IOMMUFD_TEST_H

#include <linux/iommufd.h>
#include <linux/types.h>

/* Values of iommu_test_cmd.op. */
enum {
	IOMMU_TEST_OP_ADD_RESERVED = 1,
	IOMMU_TEST_OP_MOCK_DOMAIN = 2,
	IOMMU_TEST_OP_MD_CHECK_MAP = 3,
	IOMMU_TEST_OP_MD_CHECK_REFS = 4,
	IOMMU_TEST_OP_CREATE_ACCESS = 5,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6,
	IOMMU_TEST_OP_ACCESS_PAGES = 7,
	IOMMU_TEST_OP_ACCESS_RW = 8,
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9,
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10,
	IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11,
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12,
	IOMMU_TEST_OP_DIRTY = 13,
	IOMMU_TEST_OP_MD_CHECK_IOTLB = 14,
	IOMMU_TEST_OP_TRIGGER_IOPF = 15,
	IOMMU_TEST_OP_DEV_CHECK_CACHE = 16,
	IOMMU_TEST_OP_TRIGGER_VEVENT = 17,
	IOMMU_TEST_OP_PASID_ATTACH = 18,
	IOMMU_TEST_OP_PASID_REPLACE = 19,
	IOMMU_TEST_OP_PASID_DETACH = 20,
	IOMMU_TEST_OP_PASID_CHECK_HWPT = 21,
	IOMMU_TEST_OP_DMABUF_GET = 22,
	IOMMU_TEST_OP_DMABUF_REVOKE = 23,
};

/* Page table formats of the mock IOMMU (iommu_hwpt_selftest.pagetable_type). */
enum {
	MOCK_IOMMUPT_DEFAULT = 0,	/* MOCK_PAGE_SIZE pages only */
	MOCK_IOMMUPT_HUGE = 1,		/* also MOCK_HUGE_PAGE_SIZE pages */
};

/* Geometry of the mock IOMMU (default page table format). */
enum {
	MOCK_APERTURE_START = 1UL << 24,
	MOCK_APERTURE_LAST = (1UL << 31) - 1,
	MOCK_PAGE_SIZE = 2048,
	MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE,
};

/* access_pages.flags */
enum {
	MOCK_FLAGS_ACCESS_WRITE = 1 << 0,
	MOCK_FLAGS_ACCESS_SYZ = 1 << 16,	/* fuzzer: fold IDs/IOVAs */
};

/* access_rw.flags */
enum {
	MOCK_ACCESS_RW_WRITE = 1 << 0,
	MOCK_ACCESS_RW_SLOW_PATH = 1 << 2,	/* bypass the fast path */
};

/* create_access.flags */
enum {
	MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0,
};

/* mock_domain_flags.dev_flags */
enum {
	MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0,	/* no dirty tracking */
	MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1,	/* huge-page mock domain (6.12) */
	MOCK_FLAGS_DEVICE_PASID = 1 << 2,	/* PASID capable device */
};

/* The mock nested domain keeps this many IOTLB slots. */
enum {
	MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3,
	MOCK_NESTED_DOMAIN_IOTLB_NUM = 4,
};

/* The mock device keeps this many cache slots (vIOMMU invalidation). */
enum {
	MOCK_DEV_CACHE_ID_MAX = 3,
	MOCK_DEV_CACHE_NUM = 4,
};

/* A PASID set aside for the PASID replace test. */
#define IOMMU_TEST_PASID_RESERVED 1024

/*
 * Argument of IOMMU_TEST_CMD. id is the object the op acts on (an IOAS,
 * HWPT, access or mock device ID, depending on op). The union member is
 * chosen by op; last only marks the end of the struct.
 */
struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		/* ADD_RESERVED: reserve [start, start + length) in IOAS id */
		struct {
			__aligned_u64 start;
			__aligned_u64 length;
		} add_reserved;
		/* MOCK_DOMAIN: new mock device attached to IOAS id */
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;	/* an ordinary bound-device ID */
		} mock_domain;
		/* MOCK_DOMAIN_FLAGS: as MOCK_DOMAIN, dev_flags is input */
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
			__u32 dev_flags;
		} mock_domain_flags;
		/* MOCK_DOMAIN_REPLACE: move mock device id to pt_id */
		struct {
			__u32 pt_id;
		} mock_domain_replace;
		/* MD_CHECK_MAP: HWPT/IOAS id maps iova..+length to uptr */
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} check_map;
		/* MD_CHECK_REFS: pages of uptr..+length hold refs pins */
		struct {
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 refs;
		} check_refs;
		/* CREATE_ACCESS: new access on IOAS id, returned as an fd */
		struct {
			__u32 out_access_fd;
			__u32 flags;
		} create_access;
		/* DESTROY_ACCESS_PAGES: unpin an ACCESS_PAGES result */
		struct {
			__u32 access_pages_id;
		} destroy_access_pages;
		/* ACCESS_PAGES: pin iova..+length through access fd id */
		struct {
			__u32 flags;
			__u32 out_access_pages_id;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} access_pages;
		/* ACCESS_RW: copy between iova..+length and uptr */
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
		} access_rw;
		/* SET_TEMP_MEMORY_LIMIT: cap on temporary batch memory */
		struct {
			__u32 limit;
		} memory_limit;
		/* ACCESS_REPLACE_IOAS: point access fd id at ioas_id */
		struct {
			__u32 ioas_id;
		} access_replace_ioas;
		/* DIRTY: mark pages of HWPT id dirty per the bitmap at uptr */
		struct {
			__u32 flags;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 page_size;
			__aligned_u64 uptr;
			__aligned_u64 out_nr_dirty;
		} dirty;
		/* MD_CHECK_IOTLB: IOTLB slot id of nested HWPT equals iotlb */
		struct {
			__u32 id;
			__u32 iotlb;
		} check_iotlb;
		/* TRIGGER_IOPF: inject a page fault from dev_id */
		struct {
			__u32 dev_id;
			__u32 pasid;
			__u32 grpid;
			__u32 perm;
			__u64 addr;
		} trigger_iopf;
		/* DEV_CHECK_CACHE: cache slot id of mock device equals cache */
		struct {
			__u32 id;
			__u32 cache;
		} check_dev_cache;
		/* TRIGGER_VEVENT: inject a vIOMMU event from dev_id */
		struct {
			__u32 dev_id;
		} trigger_vevent;
		/* PASID_ATTACH: attach pasid of mock device id to pt_id */
		struct {
			__u32 pasid;
			__u32 pt_id;
		} pasid_attach;
		/* PASID_REPLACE: move pasid of mock device id to pt_id */
		struct {
			__u32 pasid;
			__u32 pt_id;
		} pasid_replace;
		/* PASID_DETACH: detach pasid of mock device id */
		struct {
			__u32 pasid;
		} pasid_detach;
		/* PASID_CHECK_HWPT: pasid of mock device id is on hwpt_id */
		struct {
			__u32 pasid;
			__u32 hwpt_id;
		} pasid_check;
		/* DMABUF_GET: make a test dma-buf of length bytes, return fd */
		struct {
			__u32 length;
			__u32 open_flags;
		} dmabuf_get;
		/* DMABUF_REVOKE: revoke (1) or restore (0) a test dma-buf */
		struct {
			__s32 dmabuf_fd;
			__u32 revoked;
		} dmabuf_revoke;
	};
	__u32 last;
};
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

/* PASID width of the mock device and mock IOMMU. */
#define MOCK_PASID_WIDTH 20

/* IOMMU_GET_HW_INFO data of the mock driver. */
#define IOMMU_HW_INFO_TYPE_SELFTEST	0xfeedbeef
#define IOMMU_HW_INFO_SELFTEST_REGVAL	0xdeadbeef

struct iommu_test_hw_info {
	__u32 flags;
	__u32 test_reg;		/* always IOMMU_HW_INFO_SELFTEST_REGVAL */
};

/* HWPT data type of the mock driver (outside enum iommu_hwpt_data_type). */
#define IOMMU_HWPT_DATA_SELFTEST 0xdead
#define IOMMU_TEST_IOTLB_DEFAULT 0xbadbeef
#define IOMMU_TEST_DEV_CACHE_DEFAULT 0xbaddad

/*
 * Data of IOMMU_HWPT_DATA_SELFTEST: every IOTLB slot of the new nested
 * HWPT starts as iotlb; pagetable_type is one of MOCK_IOMMUPT_*.
 */
struct iommu_hwpt_selftest {
	__u32 iotlb;
	__u32 pagetable_type;
};

/* Invalidation data type of the mock driver, and a deliberately bad one. */
#define IOMMU_HWPT_INVALIDATE_DATA_SELFTEST 0xdeadbeef
#define IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID 0xdadbeef

/* Invalidate every slot; the index field is then ignored. */
#define IOMMU_TEST_INVALIDATE_FLAG_ALL (1 << 0)

/* One IOMMU_HWPT_INVALIDATE_DATA_SELFTEST request: reset IOTLB slot iotlb_id. */
struct iommu_hwpt_invalidate_selftest {
	__u32 flags;
	__u32 iotlb_id;
};

/* vIOMMU type of the mock driver. */
#define IOMMU_VIOMMU_TYPE_SELFTEST 0xdeadbeef

/*
 * Data of IOMMU_VIOMMU_TYPE_SELFTEST: out_data echoes in_data; the mmap
 * pair tells where a mock register page can be mapped from the iommufd.
 */
struct iommu_viommu_selftest {
	__u32 in_data;
	__u32 out_data;
	__aligned_u64 out_mmap_offset;
	__aligned_u64 out_mmap_length;
};

/* vIOMMU invalidation data type of the mock driver, and a bad one. */
#define IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST 0xdeadbeef
#define IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID 0xdadbeef

/* One vIOMMU request: reset cache slot cache_id of virtual device vdev_id. */
struct iommu_viommu_invalidate_selftest {
	__u32 flags;
	__u32 vdev_id;
	__u32 cache_id;
};

/* vEVENTQ type of the mock driver, and its event payload. */
#define IOMMU_VEVENTQ_TYPE_SELFTEST 0xbeefbeef

struct iommu_viommu_event_selftest {
	__u32 virt_id;
};

/* HW queue type of the mock driver, and how many one vIOMMU may hold. */
#define IOMMU_HW_QUEUE_TYPE_SELFTEST 0xdeadbeef
#define IOMMU_TEST_HW_QUEUE_MAX 2

#endif /* _UAPI_IOMMUFD_TEST_H */
