/* SPDX-License-Identifier: MIT */
/*
 * Device models: PCI functions emulated in software, below the VFIO device
 * layer that exposes them as /dev/vfio/devices/vfioN.
 *
 * The model.  A struct ufd_pci_model is the static description of a kind
 * of device (IDs, class) and its ops; a struct ufd_pci_dev is one
 * instance: a PCI function with a 4096-byte configuration space (per-byte
 * write masks and write-1-to-clear masks, a real capability list), up to
 * six memory BARs, and the interrupt machinery (INTx, MSI, MSI-X) that
 * this generic layer implements for every model.  A model only decides
 * what its BAR registers do and when it raises an interrupt; its DMA goes
 * through the host ops that the VFIO layer provides (the device's IOMMU
 * domain), gated by COMMAND.BME.
 *
 * Addresses and lengths: BAR and configuration offsets are byte offsets
 * from the start of the region; an access covers [off, off + size - 1]
 * (last inclusive, as everywhere in uiommufd) and must lie wholly inside
 * the region.  DMA addresses are IOVAs.
 *
 * Locking.  Each instance has one mutex (pdev->lock) guarding its
 * configuration space, interrupt state and the model's register state.
 * Every entry point below takes it; model ops (reset, bar_read,
 * bar_write) are called with it held.  Models take it with ufd_pci_lock()
 * and release it with ufd_pci_unlock(), and wait on their condition
 * variables with ufd_pci_wait() (never pthread_cond_wait directly):
 * interrupts decided while the lock is held are queued and sent to the
 * host (ops->irq) only after it is released, so the host may call back
 * into the device from irq() and may hold its own locks while calling the
 * device.  DMA (ufd_pci_dma_read/write) is done WITHOUT the device lock:
 * a model's worker thread copies data while the program reads and writes
 * registers from other threads, as with hardware.  The engine's DMA path
 * takes no engine lock that a device waits on; models never hold engine
 * locks.  A PF and its VFs: a VF's model may take its PF's lock inside
 * its own (VF lock, then PF lock), never the reverse; pf->vfs[] changes
 * under the PF's lock, and the PF model's vf_gone() (PF lock held) must
 * finish all work for a VF before it is freed.
 */
#ifndef UFD_DEVICES_PCI_H
#define UFD_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UFD_PCI_CFG_SIZE 4096
#define UFD_PCI_NUM_BARS 6
#define UFD_PCI_MSI_MAX_VECTORS 32
#define UFD_PCI_MSIX_MAX_VECTORS 2048

/* Interrupt indexes, numbered as VFIO numbers them (VFIO_PCI_*_IRQ_INDEX). */
enum ufd_pci_irq_index {
	UFD_PCI_IRQ_INTX = 0,
	UFD_PCI_IRQ_MSI = 1,
	UFD_PCI_IRQ_MSIX = 2,
};

/* BAR flags (all BARs are memory BARs). */
enum {
	UFD_PCI_BAR_MEM64 = 1 << 0,    /* 64-bit: takes this BAR and the next */
	UFD_PCI_BAR_PREFETCH = 1 << 1, /* prefetchable */
	UFD_PCI_BAR_MMAP = 1 << 2,     /* the program may mmap it (trapped) */
};

/*
 * What the VFIO layer gives a device instance: its DMA through the IOMMU
 * and its interrupt lines.  dma_read/dma_write return 0 or -errno
 * (-EFAULT: an IO page fault); they are called from the model's threads
 * without any device lock.  irq() signals one interrupt message (MSI,
 * MSI-X) or the rising edge of INTx; it is called without the device lock,
 * possibly a moment after the index was disabled (a message in flight),
 * and must not block for long.
 */
struct ufd_pci_host_ops {
	int (*dma_read)(void *host, uint64_t iova, void *buf, size_t len);
	int (*dma_write)(void *host, uint64_t iova, const void *buf,
			 size_t len);
	void (*irq)(void *host, unsigned int index, unsigned int vector);
};

struct ufd_pci_dev;

/*
 * A kind of device.  create() builds the function (BARs, capabilities,
 * model config registers, with the helpers below), sets its power-on
 * register state and starts its threads; it parses @args ("key=value,..."
 * or NULL) and returns 0 or -errno, leaving nothing behind on failure.
 * destroy() stops and joins its threads and frees what create() made.
 * reset() returns the model's registers to power-on values, waiting for or
 * cancelling work in flight (lock held; it may ufd_pci_wait()).
 * bar_read/bar_write serve accesses of 1, 2, 4 or 8 bytes at any offset
 * inside a BAR (except the MSI-X table and PBA, which the generic layer
 * serves); what an odd access does is the model's choice, but it must
 * never fail or crash.  Lock held.
 */
struct ufd_pci_model {
	const char *name;	 /* "ioat" */
	const char *description; /* one line */
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t class_code; /* base class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
	int (*create)(struct ufd_pci_dev *pdev, const char *args);
	void (*destroy)(struct ufd_pci_dev *pdev);
	void (*reset)(struct ufd_pci_dev *pdev);
	uint64_t (*bar_read)(struct ufd_pci_dev *pdev, unsigned int bar,
			     uint64_t off, unsigned int size);
	void (*bar_write)(struct ufd_pci_dev *pdev, unsigned int bar,
			  uint64_t off, unsigned int size, uint64_t value);
	/*
	 * A physical function's: its VF @index is about to be freed
	 * (pf->vfs[index] is already NULL).  The PF's lock held; it may
	 * ufd_pci_wait().  When it returns the model has no work in flight
	 * for that VF and keeps no pointer to it.  Optional.
	 */
	void (*vf_gone)(struct ufd_pci_dev *pf, unsigned int index);
};

struct ufd_pci_bar {
	uint64_t size;	    /* 0: not implemented */
	unsigned int flags; /* UFD_PCI_BAR_* */
};

/* What VFIO_DEVICE_GET_INFO, GET_REGION_INFO and GET_IRQ_INFO need. */
struct ufd_pci_dev_info {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t class_code;
	uint8_t revision;
	uint32_t config_size; /* UFD_PCI_CFG_SIZE */
	/* The upper half of a 64-bit BAR has size 0. */
	struct ufd_pci_bar bar[UFD_PCI_NUM_BARS];
	unsigned int intx_pin;	   /* 0: none, 1..4: INTA..INTD */
	unsigned int msi_vectors;  /* 0: no MSI capability */
	unsigned int msix_vectors; /* 0: no MSI-X capability */
	unsigned int msix_table_bar;
	uint64_t msix_table_offset;
	uint64_t msix_table_size;
	unsigned int msix_pba_bar;
	uint64_t msix_pba_offset;
	uint64_t msix_pba_size;
	bool flr; /* PCIe function level reset */
	bool pm;  /* power management capability */
	/* SR-IOV: a physical function's, or the VF's own place. */
	uint16_t sriov_total_vfs;  /* 0: no SR-IOV capability */
	uint16_t sriov_first_vf_offset, sriov_vf_stride;
	uint16_t sriov_vf_device_id;
	bool is_vf;                /* a virtual function */
	unsigned int vf_index;     /* its number under its PF */
};

/*
 * What a physical function's SR-IOV capability says about its virtual
 * functions: their model, how many there may be, their routing IDs
 * (VF n is the PF's routing ID + first_vf_offset + n * vf_stride) and
 * their BARs (the sizes one VF has; flags as UFD_PCI_BAR_*).
 */
struct ufd_pci_sriov {
	const struct ufd_pci_model *vf_model;
	uint16_t total_vfs;
	uint16_t first_vf_offset;
	uint16_t vf_stride;
	struct ufd_pci_bar vf_bar[UFD_PCI_NUM_BARS];
};

/*
 * An instance.  Models use priv, lock and the functions below; the rest
 * belongs to pci.c (it is here so that models and tests can be written
 * without accessors for everything).
 */
struct ufd_pci_dev {
	const struct ufd_pci_model *model;
	void *priv; /* the model's state */
	const struct ufd_pci_host_ops *host_ops;
	void *host;
	pthread_mutex_t lock;

	uint8_t cfg[UFD_PCI_CFG_SIZE];
	uint8_t wmask[UFD_PCI_CFG_SIZE];   /* bits a config write may set */
	uint8_t w1cmask[UFD_PCI_CFG_SIZE]; /* bits a written 1 clears */
	uint8_t cfg_poweron[UFD_PCI_CFG_SIZE];
	struct ufd_pci_bar bar[UFD_PCI_NUM_BARS];

	uint8_t cap_last; /* the last capability in the list; 0: none */
	uint16_t ext_cap_last; /* the last extended capability; 0: none */
	uint16_t sriov_cap;    /* the SR-IOV capability's offset; 0: none */
	struct ufd_pci_sriov sriov;
	/*
	 * A PF's live VF instances (sriov.total_vfs entries, or NULL without
	 * the capability): set by ufd_pci_vf_create, cleared by
	 * ufd_pci_dev_destroy of the VF, under the PF's lock.
	 */
	struct ufd_pci_dev **vfs;
	struct ufd_pci_dev *physfn; /* a VF's PF (fixed); NULL for a PF */
	unsigned int vf_index;      /* a VF's number under its PF */
	uint8_t pm_cap, msi_cap, msix_cap, pcie_cap; /* offsets; 0: absent */
	unsigned int msi_vectors;
	unsigned int msix_vectors;
	unsigned int msix_table_bar, msix_pba_bar;
	uint64_t msix_table_off, msix_pba_off;
	uint8_t *msix_table; /* 16 bytes a vector */
	uint64_t *msix_pba;  /* a bit a vector */

	bool intx_level;	/* what the model drives */
	bool intx_line;		/* what the wire carries */
	bool bus_master;	/* COMMAND.BME; read atomically by DMA */
	unsigned int resetting; /* FLRs in progress: BAR accesses dropped */

	/* Interrupts decided under the lock, sent after it. */
	bool deliver_any;
	bool deliver_intx;
	uint32_t deliver_msi;
	uint64_t deliver_msix[UFD_PCI_MSIX_MAX_VECTORS / 64];
};

/* ---- the registry ------------------------------------------------------ */

/* The model called @name, or NULL. */
const struct ufd_pci_model *ufd_pci_model_find(const char *name);
/* Iterate: NULL gives the first model, the last gives NULL. */
const struct ufd_pci_model *
ufd_pci_model_next(const struct ufd_pci_model *prev);

/* The models there are. */
extern const struct ufd_pci_model ufd_pci_model_ioat;
extern const struct ufd_pci_model ufd_pci_model_igb;
/* Not in the registry: only an igb PF's SR-IOV makes one. */
extern const struct ufd_pci_model ufd_pci_model_igbvf;
/* The 82576's SR-IOV capability, with igbvf VFs (igbvf.c). */
int ufd_igb_add_sriov_cap(struct ufd_pci_dev *pf);

/* ---- instances: what the VFIO layer calls ------------------------------ */

/*
 * A new instance of @model with @args.  @ops may be NULL (no DMA, no
 * interrupts: for inspection).  -EINVAL for bad args, -ENOMEM.
 */
int ufd_pci_dev_create(const struct ufd_pci_model *model, const char *args,
		       const struct ufd_pci_host_ops *ops, void *host,
		       struct ufd_pci_dev **out);
/*
 * Virtual function @index of physical function @pf (which has an SR-IOV
 * capability and at least @index + 1 VFs enabled in it), an instance of
 * the VF model the capability names, with its own host ops.  The PF must
 * outlive it.  -EINVAL, -ENOMEM, -EBUSY (VF @index exists), or what the
 * VF model's create() says.  The new VF is in pf->vfs[index].
 */
int ufd_pci_vf_create(struct ufd_pci_dev *pf, unsigned int index,
		      const struct ufd_pci_host_ops *ops, void *host,
		      struct ufd_pci_dev **out);
/*
 * The SR-IOV registers as the PF's driver (the host kernel) programs them
 * for @num_vfs VFs: NumVFs, then VF Enable and VF Memory Space Enable, or
 * both cleared for 0.  -EINVAL beyond TotalVFs or without the capability.
 */
int ufd_pci_sriov_set_num_vfs(struct ufd_pci_dev *pf, unsigned int num_vfs);
/* Stop the model's threads and free the instance.  No call may be in
 * progress on it, and none may follow.  A VF is first taken out of its
 * PF's vfs[] and the PF model's vf_gone() called (the PF's lock held). */
void ufd_pci_dev_destroy(struct ufd_pci_dev *pdev);
void ufd_pci_dev_info(struct ufd_pci_dev *pdev, struct ufd_pci_dev_info *info);

/*
 * Configuration space: @size 1, 2 or 4 at any offset with
 * off + size <= 4096, little-endian; -EINVAL otherwise.  A write that sets
 * PCIe DevCtl.Initiate-FLR performs an FLR before it returns.
 */
int ufd_pci_cfg_read(struct ufd_pci_dev *pdev, unsigned int off,
		     unsigned int size, uint32_t *val);
int ufd_pci_cfg_write(struct ufd_pci_dev *pdev, unsigned int off,
		      unsigned int size, uint32_t val);
/*
 * A BAR: @size 1, 2, 4 or 8 inside an implemented BAR (-EINVAL
 * otherwise).  The MSI-X table and PBA are served here; an access that
 * straddles their edge reads all-ones and writes nothing.  During an FLR
 * reads give all-ones and writes are dropped.  COMMAND.MEMORY is not
 * checked (vfio-pci fails such accesses with -EIO; the caller may).
 */
int ufd_pci_bar_read(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t off,
		     unsigned int size, uint64_t *val);
int ufd_pci_bar_write(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t off,
		      unsigned int size, uint64_t val);
/*
 * Function level reset: the model back to power-on values (work in flight
 * cancelled or finished first), configuration space back to power-on
 * values except the BARs' addresses and the interrupt line (which
 * vfio-pci keeps across a reset), so COMMAND is 0 (bus master off), MSI
 * and MSI-X disabled, every vector masked, nothing pending, INTx low.
 */
void ufd_pci_flr(struct ufd_pci_dev *pdev);
/*
 * Set or clear the enable bit of MSI or MSI-X as the host's kernel does
 * when VFIO_DEVICE_SET_IRQS enables or disables that index: enabling MSI
 * allows all its vectors; enabling MSI-X clears the function mask and
 * unmasks every vector, disabling masks them again.  INTx: nothing to do.
 * -EINVAL if the function has no such capability.
 */
int ufd_pci_set_irq_enable(struct ufd_pci_dev *pdev, unsigned int index,
			   bool enable);
/* Is INTx asserted now (for VFIO's unmask of an automasked INTx)? */
bool ufd_pci_intx_asserted(struct ufd_pci_dev *pdev);

/* ---- building a function: models, in create() -------------------------- */

/* A memory BAR of @size (a power of two, >= 4 KiB; < 4 GiB unless MEM64). */
int ufd_pci_add_bar(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t size,
		    unsigned int flags);
/*
 * Capabilities at config offset @off (dword aligned, inside
 * [0x40, 0xff], not overlapping another), linked in the order added.
 * PM: version 3, D0 and D3hot, No_Soft_Reset.  MSI: 64-bit, per-vector
 * masking, @vectors a power of two up to 32.  MSI-X: @vectors up to 2048,
 * table and PBA in BARs added before, 8-byte aligned, not overlapping.
 * PCIe: version 2 of @port_type (PCI_EXP_TYPE_ENDPOINT, _RC_END, ...),
 * FLR in DevCap and the Initiate-FLR bit in DevCtl.
 */
int ufd_pci_add_pm_cap(struct ufd_pci_dev *pdev, unsigned int off);
int ufd_pci_add_msi_cap(struct ufd_pci_dev *pdev, unsigned int off,
			unsigned int vectors);
int ufd_pci_add_msix_cap(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int vectors, unsigned int table_bar,
			 uint64_t table_off, unsigned int pba_bar,
			 uint64_t pba_off);
int ufd_pci_add_pcie_cap(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int port_type);
/*
 * The SR-IOV extended capability at @off (dword aligned, in [0x100,
 * 0xfc0], the first extended capability at 0x100), version 1: InitialVFs
 * and TotalVFs @sriov->total_vfs (1..256), the VF offset, stride and
 * device ID (the VF model's), page sizes 4K..4M supported with 4K
 * selected, and the VF BARs sized as given.  Kept across an FLR (as the
 * host kernel's pci_restore_iov_state does).
 */
int ufd_pci_add_sriov_cap(struct ufd_pci_dev *pdev, unsigned int off,
			  const struct ufd_pci_sriov *sriov);
/* INTx pin 1..4 (INTA..INTD); 0 for none (the default). */
int ufd_pci_set_intx_pin(struct ufd_pci_dev *pdev, unsigned int pin);
/*
 * A model's own config register of @size 1, 2 or 4 at @off (outside the
 * header and the capabilities): power-on @value, @wmask bits writable,
 * @w1cmask bits cleared by writing 1.
 */
int ufd_pci_cfg_define(struct ufd_pci_dev *pdev, unsigned int off,
		       unsigned int size, uint32_t value, uint32_t wmask,
		       uint32_t w1cmask);

/* ---- at run time: models ----------------------------------------------- */

void ufd_pci_lock(struct ufd_pci_dev *pdev);
/* Release the lock, then send the interrupts decided while it was held. */
void ufd_pci_unlock(struct ufd_pci_dev *pdev);
/*
 * Wait on @cond with the lock held, as pthread_cond_wait does; it may
 * return at once (to send queued interrupts), so wait in a loop.
 */
void ufd_pci_wait(struct ufd_pci_dev *pdev, pthread_cond_t *cond);
/* Raw config access for the model's own registers (lock held, no masks). */
uint32_t ufd_pci_cfg_get(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int size);
void ufd_pci_cfg_set(struct ufd_pci_dev *pdev, unsigned int off,
		     unsigned int size, uint32_t value);
/*
 * Raise interrupt @vector (lock held): MSI-X if enabled (a masked vector
 * sets its PBA bit and is sent when unmasked), else MSI if enabled
 * (vector below the enabled count; a masked vector is held pending), else
 * INTx, a level: STATUS.INTERRUPT set, the line asserted unless
 * COMMAND.INTX_DISABLE, until ufd_pci_lower_intx().
 */
void ufd_pci_raise_irq(struct ufd_pci_dev *pdev, unsigned int vector);
void ufd_pci_lower_intx(struct ufd_pci_dev *pdev);
/*
 * The function's DMA (lock NOT held): 0, -EIO with COMMAND.BME clear (no
 * request is made, as with a master abort), or what the host returns
 * (-EFAULT for an IO page fault; a failed read also sets
 * STATUS.RECEIVED_MASTER_ABORT, as an Unsupported Request completion
 * would).
 */
int ufd_pci_dma_read(struct ufd_pci_dev *pdev, uint64_t iova, void *buf,
		     size_t len);
int ufd_pci_dma_write(struct ufd_pci_dev *pdev, uint64_t iova, const void *buf,
		      size_t len);

#endif
