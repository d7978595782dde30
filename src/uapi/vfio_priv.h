/* SPDX-License-Identifier: MIT */
/*
 * Internal to the VFIO files (vfio_*.c): the emulated machine and the
 * state its files share.
 *
 * The model.  The machine is a fixed set of PCI functions (struct
 * vfio_dev), each in one IOMMU group (struct vfio_group) and with one
 * cdev number, made once from the launcher's spec and never changed
 * until teardown, except for SR-IOV: a physical function with an SR-IOV
 * capability has TotalVFs slots for its virtual functions (each with its
 * own group and cdev number, fixed), which exist (vfio_dev.present) only
 * while its sriov_numvfs says so (vfio_sriov.c).  A device is "open" (vfio_device::open_count > 0 in the
 * kernel) while device files with access to it exist: either one cdev
 * file that did BIND_IOMMUFD, or any number of files a group's
 * GET_DEVICE_FD made.  While open, the function is bound into one
 * iommufd context (vfio_dev.ctx, dev_id) with a DMA port (vfio_dev.dma)
 * that the model's DMA goes through.  The first open resets the function
 * and the last close disables its interrupts and resets it again, as
 * vfio-pci's enable and disable do.  A legacy container (struct
 * vfio_container) is a context of its own with a compat IOAS once
 * SET_IOMMU made one; groups attached to it hold a reference.
 *
 * Intervals are [start, last], last inclusive, as everywhere in uiommufd.
 *
 * Locking, outermost first:
 *  1. machine.lock: group state (open files, container, cdev users) and
 *     containers (refs, groups, iommu type); taken by opens, group and
 *     container ioctls, binds and the releases of device files;
 *  2. vfio_dev.lock: the device's open state, binding and attachment,
 *     interrupt configuration (the kernel's dev_set lock and igate);
 *  3. the engine's lock and the device model's lock (pdev->lock), taken
 *     inside engine and ufd_pci_* calls made with 1 and 2 held;
 *  4. the virqfd lock (vfio_virqfd.c), held while a signalled unmask
 *     eventfd or ioeventfd acts on the device (through the model, and
 *     irq_lock);
 *  5. vfio_dev.dma_lock: the DMA port and the count of DMA calls in
 *     flight; vfio_dev.irq_lock: the eventfds and INTx mask state.  Both
 *     are leaves: nothing is called with them held but the engine's DMA
 *     calls (which take no lock a device waits on) and eventfd writes.
 * The model's worker thread calls the host ops (DMA, interrupts) with no
 * device lock held (devices/pci.h), so it only ever takes the leaves; and
 * a ufd_pci_* call may deliver interrupts (host irq) before it returns, so
 * no ufd_pci_* call is ever made with irq_lock held.  Closing the DMA port
 * waits, under dma_lock's condition, for the calls in flight: never while
 * holding anything the worker's DMA path needs.  A peer-to-peer DMA (an
 * IOVA mapped to a BAR, vfio_mmio_source.c) runs the target's BAR access
 * from the worker with no VFIO lock and the engine's dma_lock released:
 * it takes the target model's lock (3) alone.
 */
#ifndef UFD_UAPI_VFIO_PRIV_H
#define UFD_UAPI_VFIO_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include "devices/pci.h"
#include "uapi/ucmd.h"
#include "uapi/vfio.h"

#define VFIO_OFFSET_SHIFT 40 /* vfio-pci: region index << 40 */
#define VFIO_INDEX_TO_OFFSET(index) ((uint64_t)(index) << VFIO_OFFSET_SHIFT)
#define VFIO_OFFSET_MASK ((1ULL << VFIO_OFFSET_SHIFT) - 1)
#define VFIO_PAGE_SIZE 4096ULL

#ifndef offsetofend
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#endif

struct vfio_group;
struct vfio_container;
struct ufd_vfio_machine;

/* One emulated PCI function of the machine. */
struct vfio_dev {
	/* Fixed from setup to teardown. */
	struct ufd_vfio_machine *m;
	char model[32];
	char bdf[16];          /* canonical "DDDD:BB:DD.F", the kernel's name */
	uint16_t segment;
	uint8_t bus, devfn;
	uint32_t cdev_nr;
	struct vfio_group *group;
	struct ufd_pci_dev *pdev;
	struct ufd_pci_dev_info info;
	uint8_t msi_cap, msix_cap, pcie_cap; /* config offsets; 0: none */
	unsigned int irq_slots;              /* entries of efds[] */
	/* SR-IOV (fixed): a VF's PF and number; a PF's VF slots. */
	struct vfio_dev *pf;      /* NULL: not a VF */
	unsigned int vf_index;
	struct vfio_dev *vfs;     /* a PF's total_vfs slots (in m->devs) */
	unsigned int total_vfs;

	/*
	 * machine lock: a VF's existence (pdev, info and efds are valid
	 * while present; PFs are always present), its cdev files, and a
	 * PF's VFs enabled and VF token (the kernel's vf_token: its UUID and
	 * the number of its VFs open).  pdev is also read without the lock
	 * by the holders of open files, which keep a VF present.
	 */
	bool present;
	unsigned int cdev_files;  /* cdev files open (bound or not) */
	unsigned int num_vfs;
	uint8_t vf_token[16];
	unsigned int vf_token_users;

	/* lock: open state and binding. */
	pthread_mutex_t lock;
	unsigned int open_count;  /* files with access (kernel's open_count) */
	bool cdev_open;           /* the open is a cdev file's */
	struct ufd_ctx *ctx;      /* bound in (a reference) while open */
	uint32_t dev_id;          /* its device ID there */
	bool attached;
	uint32_t pt_id;           /* the HWPT attached to */
	uint32_t pt_asked;        /* the IOAS or HWPT the caller named */
	bool low_power;           /* LOW_POWER_ENTRY engaged */
	int wake_efd;             /* ENTRY_WITH_WAKEUP's eventfd, or -1 */

	/* dma_lock: the DMA port of the binding, and calls in flight. */
	pthread_mutex_t dma_lock;
	pthread_cond_t dma_idle;
	struct ufd_dma *dma;
	unsigned int dma_inflight;

	/* irq_lock (configuration changes also hold lock). */
	pthread_mutex_t irq_lock;
	unsigned int irq_type;    /* VFIO_PCI_*_IRQ_INDEX; NUM_IRQS: none */
	unsigned int nvec;        /* vectors enabled (MSI, MSI-X) */
	int *efds;                /* per vector: an eventfd of ours, or -1 */
	bool intx_masked;
	uint64_t intx_edges;      /* rising edges seen, for unmask races */
	int err_efd, req_efd;
	uint64_t unmask_virqfd;   /* lock: INTx's unmask eventfd (0: none) */
};

/* An IOMMU group: /dev/vfio/N. */
struct vfio_group {
	uint32_t nr;
	struct vfio_dev **devs;
	unsigned int ndevs;
	/* machine lock: */
	bool file_open;           /* the one group file */
	unsigned int dev_files;   /* device files GET_DEVICE_FD made, open */
	unsigned int cdev_users;  /* devices of the group open as a cdev */
	struct vfio_container *container; /* legacy container, or NULL */
	struct ufd_ctx *iommufd;  /* an iommufd as container (a reference) */
};

/* A legacy container (/dev/vfio/vfio). Everything under machine lock. */
struct vfio_container {
	struct ufd_ctx *ctx;      /* its own context (the open's reference) */
	unsigned int refs;        /* the file's, and each group's */
	unsigned int groups;
	unsigned long iommu_type; /* SET_IOMMU's type; 0: none yet */
	uint32_t ioas_id;         /* the IOAS made by SET_IOMMU */
};

struct ufd_vfio_machine {
	struct ufd_engine *eng;
	pthread_mutex_t lock;
	struct vfio_dev *devs;    /* the spec's devices, then the VF slots */
	unsigned int ndevs;
	struct vfio_group *groups;
	unsigned int ngroups;
};

/* A device file (file->priv), shared by its dups and forks. */
struct vfio_dfile {
	struct vfio_dev *vdev;
	bool from_group;          /* made by GET_DEVICE_FD */
	bool granted;             /* access: bound (cdev) or from a group */
	uint64_t f_pos;           /* read()/write() position */
};

/* ---- vfio_platform.c ---- */

/* The machine, or NULL before setup (every node is then absent). */
struct ufd_vfio_machine *vfio_machine_get(void);
struct vfio_dev *vfio_dev_by_cdev(uint32_t cdev_nr);
struct vfio_group *vfio_group_by_nr(uint32_t nr);

/*
 * Open the device in @ctx (first open: bind, DMA port, reset) or count
 * one more open.  Both locks held.  A first open leaves the device
 * unattached.  0 or -errno (nothing changed).
 */
int vfio_dev_open(struct vfio_dev *vdev, struct ufd_ctx *ctx, bool cdev);
/* One open less; the last disables, resets and unbinds.  Both locks. */
void vfio_dev_close(struct vfio_dev *vdev);
/* The function's reset with the config state kept, as pci_reset_function
 * does (VFIO_DEVICE_RESET, hot reset).  vdev->lock held. */
void vfio_dev_reset_keep_state(struct vfio_dev *vdev);
/* Is COMMAND.MEMORY set (BAR accesses decode)? */
bool vfio_dev_memory_enabled(struct vfio_dev *vdev);
/* Does any device of @g exist (a VF group exists with its VF)?  m->lock. */
bool vfio_group_present(const struct vfio_group *g);
/*
 * Make VF slot @vf's function (its PF has it enabled) and its state, or
 * undo that.  Machine lock held; the VF has no open file.
 */
int vfio_dev_vf_make(struct vfio_dev *vf);
void vfio_dev_vf_unmake(struct vfio_dev *vf);
/* The sysfs hooks of ufd_vfio_platform_set_sysfs(), or NULL. */
const struct ufd_vfio_sysfs_ops *vfio_sysfs_ops(void **arg);

/* ---- vfio_sriov.c ---- */

/*
 * vfio_pci_validate_vf_token(): may @vdev be opened with VF token @uuid
 * (NULL: none given)?  A VF needs its PF's token (-EACCES); a PF whose VFs
 * are open needs it too, and otherwise takes a given token as its new
 * one; any other function refuses a token (-EINVAL).  Machine lock held.
 */
int vfio_sriov_check_token(struct vfio_dev *vdev, const uint8_t *uuid);
/* VFIO_DEVICE_FEATURE_PCI_VF_TOKEN (SET only): 1 to go on... as check. */
long vfio_sriov_feature_token(struct vfio_dev *vdev,
			      const struct ufd_caller *caller, uint32_t flags,
			      uint64_t data, size_t argsz);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (36 characters) into @uuid. */
bool vfio_uuid_parse(const char *s, uint8_t uuid[16]);
/* The device's first open and last close, for the PF's token users. */
void vfio_sriov_opened(struct vfio_dev *vdev);
void vfio_sriov_closed(struct vfio_dev *vdev);

/* An eventfd of the caller as one of ours: -EBADF, -EINVAL (not an
 * eventfd), or the fd. */
int vfio_take_eventfd(const struct ufd_caller *caller, int fd);
/* Add 1 to eventfd @efd (no-op for -1). */
void vfio_signal_eventfd(int efd);

/* ---- vfio_irq.c ---- */

long vfio_irq_get_info(struct vfio_dev *vdev, const struct ufd_caller *caller,
		       uint64_t arg);
long vfio_irq_set(struct vfio_dev *vdev, const struct ufd_caller *caller,
		  uint64_t arg);
/* The host's interrupt op (devices/pci.h), @host a struct vfio_dev. */
void vfio_irq_deliver(void *host, unsigned int index, unsigned int vector);
/* Disable every index and close every eventfd (last close).  lock held. */
void vfio_irq_release(struct vfio_dev *vdev);
/* Enable again in the model what vfio had enabled (after a reset). */
void vfio_irq_restore(struct vfio_dev *vdev);
/* Vectors of @index the device has (GET_IRQ_INFO's count). */
unsigned int vfio_irq_count(const struct vfio_dev *vdev, unsigned int index);

/* INTx UNMASK (also what an unmask eventfd does). */
void vfio_irq_intx_unmask(struct vfio_dev *vdev);

/* ---- vfio_virqfd.c: eventfds the program signals towards a device ---- */

enum vfio_virqfd_kind {
	VFIO_VIRQFD_INTX_UNMASK,  /* a signal unmasks INTx */
	VFIO_VIRQFD_IOEVENTFD,    /* a signal writes @data to @bar at @pos */
};

/* Watch eventfd @efd (ours: closed when removed; the caller's on failure). */
int vfio_virqfd_add(struct vfio_dev *vdev, enum vfio_virqfd_kind kind,
		    int efd, unsigned int bar, uint64_t pos, unsigned int size,
		    uint64_t data, uint64_t *id);
/* Stop watching (and close) registration @id; its action is over. */
void vfio_virqfd_remove(uint64_t id);
/* Every registration of @vdev. */
void vfio_virqfd_remove_dev(struct vfio_dev *vdev);
/* 1 and *@id if @vdev has that ioeventfd; *@count gets how many it has. */
int vfio_virqfd_find_ioeventfd(struct vfio_dev *vdev, unsigned int bar,
			       uint64_t pos, unsigned int size, uint64_t data,
			       uint64_t *id, unsigned int *count);
/* Teardown: every registration removed, the thread joined. */
void vfio_virqfd_stop(void);

/* ---- vfio_container.c ---- */

void vfio_container_put_locked(struct vfio_container *c);
/* A group leaves the container (machine lock held). */
void vfio_container_detach_locked(struct vfio_container *c);

/* ---- vfio_mmio_source.c: peer-to-peer ---- */

/*
 * A memory source for the caller's [uaddr, uaddr + len) that is
 * [bar_off, bar_off + len) of BAR @bar of @vdev (all page aligned;
 * -EINVAL otherwise).  Returned with one reference.
 */
int vfio_mmio_source_new(struct vfio_dev *vdev, unsigned int bar,
			 uint64_t bar_off, uint64_t uaddr, uint64_t len,
			 struct ufd_source **out);
/*
 * If [vaddr, vaddr + len) of the caller is inside one mmap of a device
 * BAR (caller->ops->bar_lookup), the source for it (as above); -ENOENT
 * when it is not, or another -errno.
 */
int vfio_p2p_source(const struct ufd_caller *caller, uint64_t vaddr,
		    uint64_t len, struct ufd_source **out);

/* ---- vfio_group.c ---- */

/* A device file GET_DEVICE_FD made is gone (machine lock held). */
void vfio_group_dev_file_closed_locked(struct vfio_group *g);

/* ---- vfio_device.c ---- */

/* A new device file's priv; NULL without memory. */
struct vfio_dfile *vfio_dfile_new(struct vfio_dev *vdev, bool from_group);

/* Copy helpers over the caller's memory (ucmd.h) with a u32 result. */
static inline int vfio_get_u32(const struct ufd_caller *caller, uint64_t at,
			       uint32_t *v)
{
	return copy_from_caller(caller, v, at, sizeof(*v));
}

#endif
