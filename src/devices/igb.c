// SPDX-License-Identifier: MIT
/*
 * An Intel 82576 Gigabit Ethernet controller (igb): one physical function
 * (8086:10c9, class 0x020000) with its internal copper PHY.  Written from
 * the 82576 datasheet's register descriptions and from how the drivers
 * that drive it use it (Linux's igb, the VFIO selftest's igb driver,
 * DPDK's e1000/igb PMD); no code of theirs is in here.
 *
 * The model.  BAR0 (64-bit, 128 KiB, mmappable) holds the CSRs; BAR3
 * (64-bit, taking BARs 3 and 4 as on the real part) holds the MSI-X table
 * (10 vectors) at 0 and the PBA at 0x2000, served by pci.c.  The real
 * part's I/O BAR (BAR2, the IOADDR/IODATA window) is absent: pci.c makes
 * memory BARs only.  Config space: PM at 0x40, MSI at 0x50 (one vector,
 * 64-bit, maskable), MSI-X at 0x70, PCIe endpoint with FLR at 0xa0,
 * INTA; the SR-IOV capability at 0x100 (eight igbvf VFs, igbvf.c).
 *
 * Registers are dwords; an access of any size at any offset is split
 * into the dwords it covers: a read returns the covered bytes (side
 * effects of reading, such as clear-on-read, happen for any access that
 * touches the register), a write passes the written bytes and their mask
 * to the register, and a partial write of an ordinary register merges
 * into its current value.  Offsets that are no register read 0 and
 * ignore writes.  Ordinary read-write registers (filters, tables,
 * thresholds a driver programs) are plain storage with a write mask in
 * reg_store[]; the registers with behaviour have their own state.
 *
 * The port.  The PHY (MDIC, address 1) is an IGP-style PHY with the
 * standard MII registers; its link is up when it is powered, and looped
 * back (BMCR.LOOPBACK) or the backend has a carrier (autonegotiation
 * completes at once, 1000/full, unless BMCR forces speed and duplex).
 * STATUS.LU is CTRL.SLU and the PHY's link; a change raises ICR.LSC.
 * A frame sent goes back to receive with MAC loopback (RCTL.LBM = 01b)
 * or PHY loopback, otherwise to the backend: "loopback" (the default: a
 * loopback plug, every frame comes back), "none" (no cable: no carrier),
 * "pcap" (frames are appended to a pcap file, nothing comes back), "tap"
 * (a tap interface) or "unix" (a datagram socket pair of paths).  The
 * last two also receive: a reader thread puts what their fd gives into
 * an inbox (device lock) that the worker delivers like a looped-back
 * frame.
 *
 * The datapath is one worker thread.  It serves the 16 transmit queues in
 * turn, up to 32 descriptors of a queue at a time (one DMA read for the
 * batch): legacy and advanced data descriptors are gathered into a frame
 * until EOP (advanced context descriptors fill the queue's two context
 * slots), the offloads are applied (TCP segmentation, IPv4/TCP/UDP
 * checksum insertion, legacy IC, VLAN insertion), each frame is padded
 * (TCTL.PSP), given an FCS (IFCS), counted, and sent to the port; then
 * descriptors with RS get DD (one DMA write for the batch) and TDH moves
 * past the last whole frame.  Frames received go to
 * receive queue 0 (no RSS) when no VF is enabled: filtered (UPE, MPE,
 * BAM, the MTA hash, the 24 receive addresses), checked for size, copied
 * into as many
 * buffers as they need (SRRCTL.BSIZEPACKET, else RCTL.BSIZE/BSEX), the
 * VLAN tag stripped if CTRL.VME, the FCS if RCTL.SECRC; descriptors are fetched 32 at a time and
 * written back (legacy, or advanced one-buffer when SRRCTL.DESCTYPE is
 * not 0) in batches, RDH moving after the write-back.  No free descriptor:
 * the frame is dropped and counted in RNBC and MPC.  A DMA that fails
 * (IO page fault, bus master off) wedges its queue, with no write-back
 * and no interrupt for what failed, until a reset.
 *
 * Interrupts.  A queue event sets its ICR cause (TXDW, RXDW) unless
 * GPIE.Multiple_MSIX, and the EICR bit its IVAR entry names if valid;
 * other causes are ICR bits, which in MSI-X mode also set the EICR bit of
 * IVAR_MISC when enabled in IMS.  In MSI-X mode an EICR bit that is set
 * and enabled in EIMS sends MSI-X vector = bit (once per event; EIAC
 * clears the bit, EIAM with GPIE.EIAME masks it); otherwise (ICR & IMS)
 * or (EICR & EIMS) is the level of INTx, or an MSI when it rises.  A
 * cause is set before the descriptor write-back that it reports and is
 * held back (inflight) until that write-back has been made: no interrupt
 * reaches the program before what it reports is visible, and a driver
 * that saw the write-back and cleared EICR gets no late interrupt for it.
 *
 * Pools (SR-IOV with n VFs enabled): pool p owns queues p and p + 8;
 * pools [0, n) are VF 0..n-1's, the rest the PF's.  A VF's queue is
 * served here like any other, but its DMA goes through the VF's function
 * (ufd_pci_dma_* on pf->vfs[p]: the VF's IOMMU domain and bus master),
 * it runs only with its VFTE/VFRE bit, and its events become the VF's
 * causes (ufd_igbvf_cause_begin/end around the write-back, held back as
 * the PF's own are), not the PF's.  A
 * received frame goes to the first queue of each pool that rx_pools()
 * picks (RAH.POOLSEL, VT_CTL.DEF_PL, VMOLR.BAM/MPME/ROMPE); with
 * DTXSWC.LLE a transmitted frame is also switched to the other pools its
 * destination picks.  The mailbox (PFMAILBOX, VMBMEM(n), MBVFICR,
 * MBVFIMR, VFLRE) of each VF is PF state (struct igb_vfslot).
 *
 * Reset (CTRL.RST, CTRL.DEV_RST, FLR): the worker puts its batch down,
 * every register returns to its power-on value, the EEPROM is re-read
 * (at once: EECD.AUTO_RD is set when the reset write returns).
 *
 * Locking (see pci.h): all register state is under pdev->lock.  The
 * worker holds it to pick work and to apply results, and drops it for
 * DMA (busy is set meanwhile); its private state (descriptor caches,
 * frames being gathered, write-back batches) is its own, tied to a
 * queue's generation (bumped by a reset and by reprogramming the ring)
 * so that nothing stale is applied.  A reset raises cancel and waits
 * until the worker is no longer busy.
 *
 * The VFs (igb_vf.h): the order is a VF's lock, then this lock.  A VF's
 * register handlers call ufd_igb_vf_read/write/reset with the VF's lock
 * held; they take this one.  This model never takes a VF's lock while it
 * holds its own: what a VF is owed (a mailbox interrupt: mbx_pending; a
 * queue event) the worker delivers with no lock held, being busy
 * meanwhile.  pf->vfs[] (pci.c) changes under this lock, and a VF is
 * freed only after vf_gone() has cancelled and waited for the worker, so
 * a VF pointer taken under the lock stays valid while the worker is busy.
 * Ranges are [addr, addr + len), or [first, last] with last inclusive
 * where a name says last.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include <linux/pci_regs.h>

#include "devices/igb_vf.h"
#include "devices/pci.h"
#include "engine/engine.h" /* allocation with fault injection */

/* ---- register facts (82576 datasheet) ---------------------------------- */

#define IGB_BAR0_SIZE 0x20000
#define IGB_MSIX_BAR 3
#define IGB_MSIX_BAR_SIZE 0x4000
#define IGB_MSIX_TABLE_OFF 0x0000
#define IGB_MSIX_PBA_OFF 0x2000
#define IGB_MSIX_VECTORS 10
#define IGB_NUM_QUEUES 16
#define IGB_NUM_RAR 24
#define IGB_PHY_ADDR 1

#define REG_CTRL 0x0000
#define REG_CTRL_ALIAS 0x0004
#define REG_STATUS 0x0008
#define REG_EECD 0x0010
#define REG_EERD 0x0014
#define REG_CTRL_EXT 0x0018
#define REG_MDIC 0x0020
#define REG_ICR 0x00c0
#define REG_ICS 0x00c8
#define REG_IMS 0x00d0
#define REG_IMC 0x00d8
#define REG_IAM 0x00e0
#define REG_RCTL 0x0100
#define REG_TCTL 0x0400
#define REG_EEMNGCTL 0x1010
#define REG_GPIE 0x1514
#define REG_EICS 0x1520
#define REG_EIMS 0x1524
#define REG_EIMC 0x1528
#define REG_EIAC 0x152c
#define REG_EIAM 0x1530
#define REG_EICR 0x1580
#define REG_EITR0 0x1680
#define REG_IVAR0 0x1700
#define REG_IVAR_MISC 0x1740
#define REG_STATS_FIRST 0x4000
#define REG_STATS_LAST 0x413c
#define REG_RLPML 0x5004
#define REG_MTA 0x5200
#define REG_RAL0 0x5400
#define REG_RAL16 0x54e0
#define REG_VFTA 0x5600
#define REG_GCR 0x5b00
#define REG_SWSM 0x5b50
#define REG_SW_FW_SYNC 0x5b5c

/* Virtualization (datasheet 7.8, 7.10, 8.14). */
#define IGB_MAX_VFS 8
#define IGB_NUM_POOLS 8
#define REG_VMBMEM0 0x0800 /* VF n's mailbox buffer at + 0x40 n */
#define VMBMEM_DWORDS 16
#define REG_PFMAILBOX0 0x0c00 /* VF n's at + 4 n */
#define REG_MBVFICR 0x0c80
#define REG_MBVFIMR 0x0c84
#define REG_VFLRE 0x0c88
#define REG_VFRE 0x0c8c
#define REG_VFTE 0x0c90
#define REG_DTXSWC 0x3500
#define REG_VT_CTL 0x5ac0
#define REG_VMOLR0 0x5ad0 /* pool n's at + 4 n */
#define PFMBX_STS 0x01
#define PFMBX_ACK 0x02
#define PFMBX_VFU 0x04
#define PFMBX_PFU 0x08
#define PFMBX_RVFU 0x10
#define MBVFICR_VFREQ(n) (1u << (n))
#define MBVFICR_VFACK(n) (1u << (16 + (n)))
#define DTXSWC_LLE 0x80000000 /* VMDq loopback (local switching) */
#define VT_CTL_DEF_PL_SHIFT 7
#define VT_CTL_DEF_PL_MASK 0x7
#define VT_CTL_DIS_DEF_POOL 0x20000000
#define RAH_POOLSEL_SHIFT 18
#define RAH_POOLSEL_MASK 0xff
#define VMOLR_ROMPE 0x02000000
#define VMOLR_BAM 0x08000000
#define VMOLR_MPME 0x10000000
#define VF_GPRC 0x0f10 /* the VF's statistics (its BAR0) */
#define VF_GPTC 0x0f14
#define VF_GORC 0x0f18
#define VF_GOTC 0x0f34
#define VF_MPRC 0x0f3c

/* Statistics (clear on read). */
#define ST_CRCERRS 0x4000
#define ST_MPC 0x4010
#define ST_PRC64 0x405c
#define ST_GPRC 0x4074
#define ST_BPRC 0x4078
#define ST_MPRC 0x407c
#define ST_GPTC 0x4080
#define ST_GORCL 0x4088
#define ST_GORCH 0x408c
#define ST_GOTCL 0x4090
#define ST_GOTCH 0x4094
#define ST_RNBC 0x40a0
#define ST_RUC 0x40a4
#define ST_ROC 0x40ac
#define ST_TORL 0x40c0
#define ST_TORH 0x40c4
#define ST_TOTL 0x40c8
#define ST_TOTH 0x40cc
#define ST_TPR 0x40d0
#define ST_TPT 0x40d4
#define ST_PTC64 0x40d8
#define ST_MPTC 0x40f0
#define ST_BPTC 0x40f4
#define ST_HGORCL 0x4128
#define ST_HGORCH 0x412c
#define ST_HGOTCL 0x4130
#define ST_HGOTCH 0x4134
#define NUM_STATS ((REG_STATS_LAST - REG_STATS_FIRST) / 4 + 1)

/* Queue registers: offsets inside a queue's block. */
#define Q_BAL 0x00
#define Q_BAH 0x04
#define Q_LEN 0x08
#define Q_SRRCTL 0x0c /* receive only */
#define Q_HEAD 0x10
#define Q_DCA 0x14
#define Q_TAIL 0x18
#define Q_DCTL 0x28
#define Q_RQDPC 0x30  /* receive: drop count */
#define Q_TDWBAL 0x38 /* transmit: head write-back address */
#define Q_TDWBAH 0x3c

#define CTRL_FD 0x00000001
#define CTRL_GIO_MASTER_DISABLE 0x00000004
#define CTRL_LRST 0x00000008
#define CTRL_SLU 0x00000040
#define CTRL_SPD_MASK 0x00000300
#define CTRL_SPD_100 0x00000100
#define CTRL_SPD_1000 0x00000200
#define CTRL_FRCSPD 0x00000800
#define CTRL_FRCDPX 0x00001000
#define CTRL_RST 0x04000000
#define CTRL_DEV_RST 0x20000000
#define CTRL_PHY_RST 0x80000000
#define CTRL_SELF_CLEARING (CTRL_RST | CTRL_DEV_RST | CTRL_PHY_RST)

#define STATUS_FD 0x00000001
#define STATUS_LU 0x00000002
#define STATUS_SPEED_100 0x00000040
#define STATUS_SPEED_1000 0x00000080
#define STATUS_GIO_MASTER_ENABLE 0x00080000
#define STATUS_PF_RST_DONE 0x00200000

#define EECD_REQ 0x00000040
#define EECD_GNT 0x00000080
#define EECD_PRES 0x00000100
#define EECD_AUTO_RD 0x00000200
#define EECD_SIZE_SHIFT 11
#define EECD_SIZE_256W 2 /* 2^(2 + 6) words */

#define EERD_START 0x00000001
#define EERD_DONE 0x00000002
#define EERD_ADDR_SHIFT 2
#define EERD_ADDR_MASK 0x3fff
#define EERD_DATA_SHIFT 16

#define MDIC_DATA_MASK 0x0000ffff
#define MDIC_REG_SHIFT 16
#define MDIC_REG_MASK 0x1f
#define MDIC_PHY_SHIFT 21
#define MDIC_PHY_MASK 0x1f
#define MDIC_OP_WRITE 0x04000000
#define MDIC_OP_READ 0x08000000
#define MDIC_READY 0x10000000
#define MDIC_INT_EN 0x20000000
#define MDIC_ERROR 0x40000000

#define ICR_TXDW 0x00000001
#define ICR_LSC 0x00000004
#define ICR_RXDW 0x00000080 /* RXT0 in older parts' names */
#define ICR_VMMB 0x00000100 /* a VF's mailbox or VF reset */
#define ICR_MDAC 0x00000200
#define ICR_INT_ASSERTED 0x80000000
#define ICR_CAUSES 0x7fffffff

#define GPIE_MULTIPLE_MSIX 0x00000010
#define GPIE_EIAME 0x40000000
#define GPIE_WMASK 0xc000001f

#define EICR_VECTORS 0x01ffffff /* MSI-X mode: a bit per vector */
#define EICR_VALID 0xc1ffffff
#define IVAR_VALID 0x80
#define IVAR_VECTOR 0x1f

#define RCTL_EN 0x00000002
#define RCTL_SBP 0x00000004
#define RCTL_UPE 0x00000008
#define RCTL_MPE 0x00000010
#define RCTL_LPE 0x00000020
#define RCTL_LBM_SHIFT 6
#define RCTL_LBM_MASK 0x3
#define RCTL_LBM_MAC 1
#define RCTL_MO_SHIFT 12
#define RCTL_BAM 0x00008000
#define RCTL_BSIZE_SHIFT 16
#define RCTL_BSEX 0x02000000
#define RCTL_SECRC 0x04000000
#define RCTL_WMASK 0x07fff3fe

#define TCTL_EN 0x00000002
#define TCTL_PSP 0x00000008
#define TCTL_WMASK 0xfffffffe
#define TCTL_POWERON 0x0003f0f8 /* PSP, CT 15, COLD 63 */

#define SRRCTL_BSIZEPKT_MASK 0x7f
#define SRRCTL_DESCTYPE_SHIFT 25
#define SRRCTL_DESCTYPE_MASK 0x7
#define SRRCTL_DROP_EN 0x80000000
#define SRRCTL_WMASK 0xcff00f7f
#define SRRCTL_POWERON 0x00000402 /* 2 KiB buffers, 256-byte headers */

#define DCTL_ENABLE 0x02000000
#define RXDCTL_WMASK 0x061f1f1f
#define TXDCTL_WMASK 0x0e3f3f3f
#define DCTL_POWERON 0x00010000 /* WTHRESH 1 */

#define RAH_AV 0x80000000
#define GCR_CMPL_TMOUT_RESEND 0x00010000
#define EEMNGCTL_CFG_DONE0 0x00040000
#define SWSM_SMBI 0x00000001
#define SWSM_SWESMBI 0x00000002

/* Descriptors: 16 bytes. */
#define DESC_LEN 16
#define TXD_CMD_EOP 0x01000000
#define TXD_CMD_IFCS 0x02000000
#define TXD_CMD_RS 0x08000000
#define TXD_CMD_DEXT 0x20000000
#define TXD_DTYP_SHIFT 20
#define TXD_DTYP_MASK 0xf
#define TXD_DTYP_CONTEXT 0x2
#define TXD_DTYP_DATA 0x3
#define TXD_CMD_IC 0x04000000  /* legacy: insert checksum */
#define TXD_CMD_VLE 0x40000000 /* insert the VLAN tag */
#define TXD_CMD_TSE 0x80000000 /* advanced: TCP segmentation */
#define TXD_STA_DD 0x01
#define TXD_POPTS_IXSM 0x00000100 /* olinfo: insert the IPv4 checksum */
#define TXD_POPTS_TXSM 0x00000200 /* olinfo: insert the L4 checksum */
#define TXD_IDX_SHIFT 4
#define TXCTX_MACLEN_SHIFT 9
#define TXCTX_IPLEN_MASK 0x1ff
#define TXCTX_TUCMD_IPV4 0x00000400
#define TXCTX_L4T_SHIFT 11
#define TXCTX_L4T_UDP 0
#define TXCTX_L4T_TCP 1
#define TXCTX_L4LEN_SHIFT 8
#define TXCTX_MSS_SHIFT 16
#define RXD_STAT_VP 0x08
#define CTRL_VME 0x40000000
#define REG_VET 0x0038
#define RXD_STAT_DD 0x01
#define RXD_STAT_EOP 0x02
#define RXD_STAT_IXSM 0x04

/* The PHY's registers (MII numbering). */
#define PHY_BMCR 0
#define PHY_BMSR 1
#define PHY_ID1 2
#define PHY_ID2 3
#define PHY_ANAR 4
#define PHY_ANLPAR 5
#define PHY_ANER 6
#define PHY_GBCR 9
#define PHY_GBSR 10
#define PHY_ESR 15
#define PHY_NREGS 32
#define BMCR_SPEED_MSB 0x0040
#define BMCR_FULLDPLX 0x0100
#define BMCR_ANRESTART 0x0200
#define BMCR_ISOLATE 0x0400
#define BMCR_PDOWN 0x0800
#define BMCR_ANENABLE 0x1000
#define BMCR_SPEED_LSB 0x2000
#define BMCR_LOOPBACK 0x4000
#define BMCR_RESET 0x8000
#define BMCR_POWERON (BMCR_ANENABLE | BMCR_FULLDPLX | BMCR_SPEED_MSB)
#define BMCR_WMASK 0x7dc0 /* RESET and ANRESTART self-clear */
#define BMSR_BASE 0x7949  /* 10/100 half/full, ext. status, AN able, ext. */
#define BMSR_LSTATUS 0x0004
#define BMSR_ANEGCOMPLETE 0x0020
#define PHY_ID1_IGP 0x02a8
#define PHY_ID2_82576 0x0391
#define ANAR_POWERON 0x01e1
#define ANLPAR_PARTNER 0xc1e1 /* the partner: all of 10/100, ACK */
#define GBCR_POWERON 0x0300
#define GBSR_PARTNER 0x3c00 /* partner 1000 full/half, receivers OK */
#define ESR_1000T 0x3000

/* The EEPROM. */
#define EEPROM_WORDS 256
#define EE_CHECKSUM_WORD 0x3f
#define EE_CHECKSUM_SUM 0xbaba

/* Frames. */
#define FRAME_MAX 16384 /* a frame on the wire; longer ones are cut */
#define GATHER_MAX (256 * 1024 + 1024) /* a TSO frame: PAYLEN + headers */
#define FRAME_SLACK 64 /* room to insert a VLAN tag, pad, append the FCS */
#define ETH_MIN_NOFCS 60
#define ETH_FCS 4
#define ETH_MAX_STD 1522 /* 1518 and a VLAN tag */
#define BATCH 32

/* ---- state ------------------------------------------------------------- */

struct igb_rxq {
	uint32_t bal, bah, len, srrctl, rdh, rdt, dctl, dca, rqdpc;
	uint32_t next; /* the next descriptor the worker fills */
	bool wedged;
	uint32_t gen;
};

struct igb_txq {
	uint32_t bal, bah, len, tdh, tdt, dctl, dca, wbal, wbah;
	uint32_t fetch; /* the next descriptor the worker fetches */
	bool wedged;
	uint32_t gen;
};

struct igb;

/* Where frames go that are not looped back inside the device. */
struct igb_backend_ops {
	const char *name;
	bool carrier; /* a link partner: the PHY gets link */
	int (*open)(struct igb *igb, const char *arg);
	void (*close)(struct igb *igb);
	/* Worker thread, no lock: send a frame (no FCS); true: it comes back
	 * as a received frame. */
	bool (*transmit)(struct igb *igb, const uint8_t *frame, size_t len);
};

/*
 * A receiving backend's frames wait here for the worker (lock held to
 * touch it): the backend's thread adds what it reads from its fd, the
 * worker takes them one at a time into rx_frame().  Full: the frame is
 * dropped and counted as missed (MPC), as the 82576's full receive FIFO
 * drops.  A reset empties it.
 */
#define INBOX_FRAMES 64
struct igb_inbox {
	uint8_t *buf[INBOX_FRAMES]; /* FRAME_MAX + FRAME_SLACK bytes each */
	size_t len[INBOX_FRAMES];
	unsigned int head, count;
};

/* An advanced context descriptor, as kept in a queue's slot. */
struct igb_txctx {
	uint32_t vlan_macip_lens, type_tucmd, mss_l4len;
};

/*
 * A frame being gathered from a transmit queue, with the offloads its
 * first data descriptor asks for, and the queue's two context slots
 * (worker only).
 */
struct igb_txframe {
	uint8_t *buf; /* cap + FRAME_SLACK bytes */
	size_t cap, len;
	bool open;
	uint32_t gen;
	bool ifcs, adv, tse, vle, ixsm, txsm, legacy_ic;
	unsigned int ctx_idx;
	uint16_t vlan;	  /* legacy: from the descriptor's special field */
	uint8_t cso, css; /* legacy checksum offsets */
	struct igb_txctx ctx[2];
};

/* What the worker keeps of a receive queue (worker only). */
struct igb_rxcache {
	uint32_t gen;
	uint32_t first; /* ring index of addr[off]: [first, first + n) */
	unsigned int off, n;
	uint64_t addr[BATCH];
	/* The write-back batch: descriptors [wb_first, wb_first + wb_n). */
	uint32_t wb_gen;
	uint64_t wb_ring;
	uint32_t wb_first;
	unsigned int wb_n;
	uint8_t wb[BATCH][DESC_LEN];
};

/*
 * What the PF keeps for VF n (lock held): the mailbox buffer, the VF's
 * view of the mailbox bits (V2PMAILBOX), and its reset count (an event
 * for the VF carries it; one from before a reset is dropped).
 */
struct igb_vfslot {
	uint32_t mbmem[VMBMEM_DWORDS];
	uint32_t v2p;
	unsigned int epoch;
	/* The pool's statistics as the VF reads them (they wrap; only a
	 * reset of the PF clears them). */
	uint32_t gprc, gptc, gorc, gotc, mprc;
};

struct igb_cause {
	uint32_t eicr, icr;	    /* the bits of the event */
	uint32_t new_eicr, new_icr; /* those it set (were clear) */
};

struct igb {
	struct ufd_pci_dev *pdev;
	/* From the args. */
	uint8_t mac[6];
	const struct igb_backend_ops *backend;
	char *backend_arg;
	FILE *pcap;
	/* A receiving backend (tap, unix): its fd, its reader thread, the
	 * eventfd that stops it, the frames it read. */
	int io_fd, stop_fd;
	pthread_t reader;
	bool reader_running;
	struct igb_inbox inbox;
	uint8_t *inframe; /* the worker's copy of the frame it delivers */
	struct sockaddr_un peer; /* unix: where frames are sent */

	uint16_t eeprom[EEPROM_WORDS];

	/* General registers. */
	uint32_t ctrl, ctrl_ext, eecd, eerd, mdic, swsm;
	uint16_t phy[PHY_NREGS];
	bool link; /* STATUS.LU as last computed (for LSC) */

	/* Interrupts. */
	uint32_t icr, ims, iam;
	uint32_t eicr, eims, eiac, eiam, gpie;
	uint32_t eicr_inflight, icr_inflight; /* write-back not yet made */
	uint32_t eicr_sent;		      /* messages sent for these */
	bool legacy_asserted;		      /* INTx driven (or an MSI sent) */
	bool legacy_refire;		      /* a new event: an MSI again */

	uint32_t rctl, tctl;
	struct igb_rxq rxq[IGB_NUM_QUEUES];
	struct igb_txq txq[IGB_NUM_QUEUES];
	uint64_t stats[NUM_STATS]; /* an L/H pair counts in its L slot */
	uint32_t *store;	   /* plain registers, by offset / 4 */

	/* The worker. */
	pthread_t worker;
	pthread_cond_t work_cv;
	pthread_cond_t idle_cv;
	bool busy;
	unsigned int cancel;
	bool quit;
	unsigned int next_txq; /* round robin */
	struct igb_txframe frame[IGB_NUM_QUEUES];
	uint8_t *seg; /* a TSO segment: FRAME_MAX + FRAME_SLACK */
	struct igb_rxcache rxc[IGB_NUM_QUEUES];
	uint8_t txbatch[BATCH * DESC_LEN];
	uint8_t *rxcopy; /* a frame delivered to several pools */
	int tx_pool;	 /* the pool of the queue being served, or -1 */

	/* Virtualization: the PF's side of each VF (lock held). */
	struct igb_vfslot vfslot[IGB_MAX_VFS];
	uint32_t mbvficr, vflre;
	uint32_t mbx_pending; /* VFs owed a mailbox interrupt (the worker) */
};

static struct igb *igb_of(struct ufd_pci_dev *pdev)
{
	return pdev->priv;
}

static unsigned int cancel_count(struct igb *igb)
{
	return __atomic_load_n(&igb->cancel, __ATOMIC_ACQUIRE);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- plain registers ----------------------------------------------------- */

struct igb_plain {
	uint32_t first, last; /* byte offsets of the first and last dword */
	uint32_t wmask;
	uint32_t poweron;
};

/* clang-format off */
static const struct igb_plain reg_store[] = {
	{ 0x0024, 0x0024, 0xffffffff, 0 },		/* SCTL */
	{ 0x0028, 0x0030, 0xffffffff, 0 },		/* FCAL, FCAH, FCT */
	{ 0x0034, 0x0034, 0xffffffff, 0 },		/* CONNSW */
	{ 0x0038, 0x0038, 0x0000ffff, 0x8100 },	/* VET */
	{ 0x003c, 0x003c, 0xffffffff, 0 },		/* TSSDP */
	{ 0x00c4, 0x00c4, 0x0000fffc, 0 },		/* ITR */
	{ 0x0170, 0x0170, 0x0000ffff, 0 },		/* FCTTV */
	{ 0x0404, 0x0404, 0xffffffff, 0 },		/* TCTL_EXT */
	{ 0x0410, 0x0410, 0x3fffffff, 0x00602008 },	/* TIPG */
	{ 0x0458, 0x0458, 0x0000ffff, 0 },		/* AIT */
	{ 0x0c84, 0x0c84, 0x000000ff, 0 },		/* MBVFIMR */
	{ 0x0c8c, 0x0c90, 0x000000ff, 0 },		/* VFRE, VFTE */
	{ 0x0e00, 0x0e00, 0xffffffff, 0x07068302 },	/* LEDCTL */
	{ 0x0e04, 0x0e04, 0xffffffff, 0 },		/* MDICNFG */
	{ 0x1000, 0x1000, 0x0000007f, 0x00000040 },	/* PBA */
	{ 0x1010, 0x1010, 0x00000000, EEMNGCTL_CFG_DONE0 }, /* EEMNGCTL */
	{ 0x1048, 0x104c, 0xffffffff, 0 },		/* FRTIMER, TCPTIMER */
	{ 0x1680, 0x16e0, 0x80007ffc, 0 },		/* EITR 0..24 */
	{ 0x1700, 0x171c, 0x9f9f9f9f, 0 },		/* IVAR 0..7 */
	{ 0x1740, 0x1740, 0x00009f9f, 0 },		/* IVAR_MISC */
	{ 0x2160, 0x2168, 0x0000fff0, 0 },		/* FCRTL, FCRTH */
	{ 0x2404, 0x2404, 0x0000007f, 0x00000040 },	/* RXPBS */
	{ 0x2460, 0x2460, 0x0000ffff, 0 },		/* FCRTV */
	{ 0x3404, 0x3404, 0x0000007f, 0x00000028 },	/* TXPBS */
	{ 0x3500, 0x3500, 0xffffffff, 0 },		/* DTXSWC */
	{ 0x3590, 0x3590, 0xffffffff, 0 },		/* DTXCTL */
	{ 0x3604, 0x3604, 0xffffffff, 0 },		/* RTTDQSEL */
	{ 0x5000, 0x5000, 0x000003ff, 0x00000300 },	/* RXCSUM */
	{ 0x5004, 0x5004, 0x00003fff, 0x00002600 },	/* RLPML */
	{ 0x5008, 0x5008, 0xffffffff, 0 },		/* RFCTL */
	{ 0x5200, 0x53fc, 0xffffffff, 0 },		/* MTA[128] */
	{ 0x5400, 0x547c, 0xffffffff, 0 },		/* RAL/RAH 0..15 */
	{ 0x54e0, 0x551c, 0xffffffff, 0 },		/* RAL/RAH 16..23 */
	{ 0x5600, 0x57fc, 0xffffffff, 0 },		/* VFTA[128] */
	{ 0x5818, 0x5818, 0xffffffff, 0 },		/* MRQC */
	{ 0x5ac0, 0x5ac0, 0xffffffff, 0 },		/* VT_CTL */
	{ 0x5ad0, 0x5aec, 0xffffffff, 0 },		/* VMOLR 0..7 */
	{ 0x5b00, 0x5b00, 0xffffffff, GCR_CMPL_TMOUT_RESEND }, /* GCR */
	{ 0x5b5c, 0x5b5c, 0xffffffff, 0 },		/* SW_FW_SYNC */
	{ 0x5c00, 0x5c7c, 0xffffffff, 0 },		/* RETA */
	{ 0x5c80, 0x5ca4, 0xffffffff, 0 },		/* RSSRK */
	{ 0xb620, 0xb620, 0xffffffff, 0 },		/* TSYNCRXCTL */
	{ 0xb614, 0xb614, 0xffffffff, 0 },		/* TSYNCTXCTL */
};
/* clang-format on */

static const struct igb_plain *plain_find(uint32_t off)
{
	size_t i;

	for (i = 0; i < sizeof(reg_store) / sizeof(reg_store[0]); i++)
		if (off >= reg_store[i].first && off <= reg_store[i].last)
			return &reg_store[i];
	return NULL;
}

static uint32_t plain_get(struct igb *igb, uint32_t off)
{
	return igb->store[off / 4];
}

/* ---- the EEPROM ------------------------------------------------------- */

static void eeprom_build(struct igb *igb)
{
	uint16_t *w = igb->eeprom;
	uint16_t sum = 0;
	unsigned int i;

	for (i = 0; i < EEPROM_WORDS; i++)
		w[i] = 0xffff; /* blank */
	for (i = 0; i < 3; i++)
		w[i] = (uint16_t)(igb->mac[2 * i] | igb->mac[2 * i + 1] << 8);
	for (i = 3; i < EE_CHECKSUM_WORD; i++)
		w[i] = 0;
	w[0x05] = 0x0001; /* image version */
	w[0x08] = 0x0000; /* PBA number (two words) */
	w[0x09] = 0x0001;
	w[0x0a] = 0x0c23; /* initialization control 1 */
	w[0x0b] = 0xa03c; /* subsystem ID */
	w[0x0c] = 0x8086; /* subsystem vendor ID */
	w[0x0d] = 0x10c9; /* device ID */
	w[0x0e] = 0x8086; /* vendor ID */
	w[0x0f] = 0x3050; /* initialization control 2 */
	w[0x37] = 0xffff; /* no alternate MAC address */
	for (i = 0; i < EE_CHECKSUM_WORD; i++)
		sum = (uint16_t)(sum + w[i]);
	w[EE_CHECKSUM_WORD] = (uint16_t)(EE_CHECKSUM_SUM - sum);
}

/* ---- the PHY and the link (lock held) ---------------------------------- */

static void phy_poweron(struct igb *igb)
{
	memset(igb->phy, 0, sizeof(igb->phy));
	igb->phy[PHY_BMCR] = BMCR_POWERON;
	igb->phy[PHY_ANAR] = ANAR_POWERON;
	igb->phy[PHY_GBCR] = GBCR_POWERON;
}

static bool phy_carrier(struct igb *igb)
{
	return igb->backend->carrier;
}

static bool phy_link(struct igb *igb)
{
	uint16_t bmcr = igb->phy[PHY_BMCR];

	if (bmcr & (BMCR_PDOWN | BMCR_ISOLATE))
		return false;
	return (bmcr & BMCR_LOOPBACK) || phy_carrier(igb);
}

static bool phy_autoneg_done(struct igb *igb)
{
	return (igb->phy[PHY_BMCR] & BMCR_ANENABLE) && phy_link(igb) &&
	       !(igb->phy[PHY_BMCR] & BMCR_LOOPBACK);
}

static uint16_t phy_read(struct igb *igb, unsigned int reg)
{
	uint16_t v;

	switch (reg) {
	case PHY_BMSR:
		v = BMSR_BASE;
		if (phy_link(igb))
			v |= BMSR_LSTATUS;
		if (phy_autoneg_done(igb))
			v |= BMSR_ANEGCOMPLETE;
		return v;
	case PHY_ID1:
		return PHY_ID1_IGP;
	case PHY_ID2:
		return PHY_ID2_82576;
	case PHY_ANLPAR:
		return phy_autoneg_done(igb) ? ANLPAR_PARTNER : 0;
	case PHY_ANER:
		return phy_autoneg_done(igb) ? 0x0001 : 0;
	case PHY_GBSR:
		return phy_autoneg_done(igb) ? GBSR_PARTNER : 0;
	case PHY_ESR:
		return ESR_1000T;
	default:
		return reg < PHY_NREGS ? igb->phy[reg] : 0;
	}
}

static void phy_write(struct igb *igb, unsigned int reg, uint16_t v)
{
	switch (reg) {
	case PHY_BMCR:
		if (v & BMCR_RESET) {
			/* A PHY reset keeps nothing but loopback off too. */
			phy_poweron(igb);
			return;
		}
		/* ANRESTART: negotiation completes at once. */
		igb->phy[PHY_BMCR] = v & BMCR_WMASK;
		return;
	case PHY_BMSR:
	case PHY_ID1:
	case PHY_ID2:
	case PHY_ANLPAR:
	case PHY_ANER:
	case PHY_GBSR:
	case PHY_ESR:
		return; /* read-only */
	default:
		if (reg < PHY_NREGS)
			igb->phy[reg] = v;
	}
}

/* The speed the link runs at: STATUS speed bits and FD. */
static uint32_t link_speed_duplex(struct igb *igb)
{
	uint16_t bmcr = igb->phy[PHY_BMCR];
	uint32_t speed, fd;

	if ((bmcr & BMCR_ANENABLE) && !(bmcr & BMCR_LOOPBACK)) {
		speed = STATUS_SPEED_1000;
		fd = STATUS_FD;
	} else {
		speed = (bmcr & BMCR_SPEED_MSB) ? STATUS_SPEED_1000 :
			(bmcr & BMCR_SPEED_LSB) ? STATUS_SPEED_100 :
						  0;
		fd = (bmcr & BMCR_FULLDPLX) ? STATUS_FD : 0;
	}
	if (igb->ctrl & CTRL_FRCSPD)
		speed = (igb->ctrl & CTRL_SPD_MASK) == CTRL_SPD_1000 ?
				STATUS_SPEED_1000 :
			(igb->ctrl & CTRL_SPD_MASK) == CTRL_SPD_100 ?
				STATUS_SPEED_100 :
				0;
	if (igb->ctrl & CTRL_FRCDPX)
		fd = (igb->ctrl & CTRL_FD) ? STATUS_FD : 0;
	return speed | fd;
}

static bool mac_link(struct igb *igb)
{
	return (igb->ctrl & CTRL_SLU) && !(igb->ctrl & CTRL_LRST) &&
	       phy_link(igb);
}

static uint32_t status_read(struct igb *igb)
{
	uint32_t v = STATUS_PF_RST_DONE | link_speed_duplex(igb);

	if (mac_link(igb))
		v |= STATUS_LU;
	if (!(igb->ctrl & CTRL_GIO_MASTER_DISABLE))
		v |= STATUS_GIO_MASTER_ENABLE;
	return v;
}

/* ---- interrupts (lock held) ------------------------------------------- */

static bool msix_mode(struct igb *igb)
{
	return igb->gpie & GPIE_MULTIPLE_MSIX;
}

/* Send what is set, enabled and not held back; see the file top. */
static void irq_update(struct igb *igb)
{
	struct ufd_pci_dev *pdev = igb->pdev;
	bool level;

	if (msix_mode(igb)) {
		uint32_t fire = igb->eicr & igb->eims & EICR_VECTORS &
				~igb->eicr_inflight & ~igb->eicr_sent;
		unsigned int b;

		for (b = 0; fire; b++) {
			uint32_t bit = 1u << b;

			if (!(fire & bit))
				continue;
			fire &= ~bit;
			if (b < IGB_MSIX_VECTORS)
				ufd_pci_raise_irq(pdev, b);
			igb->eicr_sent |= bit;
			if (igb->eiac & bit) {
				igb->eicr &= ~bit;
				igb->eicr_sent &= ~bit;
			}
			if ((igb->gpie & GPIE_EIAME) && (igb->eiam & bit))
				igb->eims &= ~bit;
		}
		if (igb->legacy_asserted) {
			igb->legacy_asserted = false;
			ufd_pci_lower_intx(pdev);
		}
		return;
	}
	level = (igb->icr & igb->ims & ~igb->icr_inflight) ||
		(igb->eicr & igb->eims & ~igb->eicr_inflight);
	if (level && (!igb->legacy_asserted || igb->legacy_refire)) {
		igb->legacy_asserted = true;
		igb->legacy_refire = false;
		ufd_pci_raise_irq(pdev, 0);
	} else if (!level && igb->legacy_asserted) {
		igb->legacy_asserted = false;
		ufd_pci_lower_intx(pdev);
	}
}

/* An event of the EICR bits @bits: a new message for each (edge). */
static void eicr_event(struct igb *igb, uint32_t bits)
{
	bits &= EICR_VALID;
	igb->eicr |= bits;
	igb->eicr_sent &= ~bits;
}

static uint32_t ivar_bit(struct igb *igb, uint8_t entry)
{
	(void)igb;
	if (!(entry & IVAR_VALID))
		return 0;
	return 1u << (entry & IVAR_VECTOR);
}

/* The EICR bit of the "other" causes: IVAR_MISC byte 1. */
static uint32_t misc_eicr_bit(struct igb *igb)
{
	return ivar_bit(igb, (uint8_t)(plain_get(igb, REG_IVAR_MISC) >> 8));
}

/* Other (non-queue) causes: ICR, and in MSI-X mode the misc vector. */
static void icr_event(struct igb *igb, uint32_t bits)
{
	igb->icr |= bits & ICR_CAUSES;
	if (msix_mode(igb) && (bits & igb->ims))
		eicr_event(igb, misc_eicr_bit(igb));
	if (bits & igb->ims)
		igb->legacy_refire = true;
	irq_update(igb);
}

/* The EICR bit of queue @q's receive (tx false) or transmit cause. */
static uint32_t queue_eicr_bit(struct igb *igb, bool tx, unsigned int q)
{
	uint32_t ivar = plain_get(igb, REG_IVAR0 + 4 * (q & 7));
	unsigned int byte = (q < 8 ? 0 : 2) + (tx ? 1 : 0);

	return ivar_bit(igb, (uint8_t)(ivar >> (8 * byte)));
}

/*
 * A queue's write-back is about to be made: set its causes now, held back
 * until cause_end().  A driver that sees the write-back and then clears
 * the cause will see no interrupt for it.
 */
static void cause_begin(struct igb *igb, bool tx, unsigned int q,
			struct igb_cause *c)
{
	c->eicr = queue_eicr_bit(igb, tx, q);
	c->icr = msix_mode(igb) ? 0 : (tx ? ICR_TXDW : ICR_RXDW);
	c->new_eicr = c->eicr & ~igb->eicr;
	c->new_icr = c->icr & ~igb->icr;
	eicr_event(igb, c->eicr);
	igb->icr |= c->icr;
	igb->eicr_inflight |= c->eicr;
	igb->icr_inflight |= c->icr;
	if ((c->icr & igb->ims) || (c->eicr & igb->eims))
		igb->legacy_refire = true;
}

/* The write-back failed or was cancelled: take back what it set. */
static void cause_abort(struct igb *igb, struct igb_cause *c)
{
	igb->eicr &= ~c->new_eicr;
	igb->icr &= ~c->new_icr;
}

static void cause_end(struct igb *igb, struct igb_cause *c)
{
	igb->eicr_inflight &= ~c->eicr;
	igb->icr_inflight &= ~c->icr;
	irq_update(igb);
}

/* The link may have changed: LSC, and the worker may have work. */
static void link_update(struct igb *igb)
{
	bool up = mac_link(igb);

	if (up != igb->link) {
		igb->link = up;
		icr_event(igb, ICR_LSC);
	}
	pthread_cond_broadcast(&igb->work_cv);
}

/* ---- power-on values and reset (lock held) ----------------------------- */

/* Queue pair @q to power-on values; what the worker holds of it is stale. */
static void queue_poweron(struct igb *igb, unsigned int q)
{
	struct igb_rxq *rx = &igb->rxq[q];
	struct igb_txq *tx = &igb->txq[q];
	uint32_t rgen = rx->gen + 1, tgen = tx->gen + 1;

	memset(rx, 0, sizeof(*rx));
	memset(tx, 0, sizeof(*tx));
	rx->gen = rgen;
	tx->gen = tgen;
	rx->srrctl = SRRCTL_POWERON;
	rx->dctl = DCTL_POWERON | (q == 0 ? DCTL_ENABLE : 0);
	tx->dctl = DCTL_POWERON | (q == 0 ? DCTL_ENABLE : 0);
}

static void queues_poweron(struct igb *igb)
{
	unsigned int q;

	for (q = 0; q < IGB_NUM_QUEUES; q++)
		queue_poweron(igb, q);
}

/* The PF's side of VF @n after a reset: RSTD, no ownership, no events. */
static void vfslot_poweron(struct igb *igb, unsigned int n)
{
	struct igb_vfslot *slot = &igb->vfslot[n];

	memset(slot->mbmem, 0, sizeof(slot->mbmem));
	slot->gprc = slot->gptc = slot->gorc = slot->gotc = slot->mprc = 0;
	slot->v2p = IGB_V2P_RSTD;
	slot->epoch++;
	igb->mbx_pending &= ~(1u << n);
	igb->mbvficr &= ~(MBVFICR_VFREQ(n) | MBVFICR_VFACK(n));
}

static void regs_poweron(struct igb *igb)
{
	size_t i;
	uint32_t off;

	/* What the receive FIFO held is lost. */
	igb->inbox.head = igb->inbox.count = 0;

	memset(igb->store, 0, IGB_BAR0_SIZE);
	for (i = 0; i < sizeof(reg_store) / sizeof(reg_store[0]); i++)
		for (off = reg_store[i].first; off <= reg_store[i].last;
		     off += 4)
			igb->store[off / 4] = reg_store[i].poweron;
	/* Receive address 0 from the EEPROM. */
	igb->store[REG_RAL0 / 4] = (uint32_t)igb->eeprom[0] |
				   (uint32_t)igb->eeprom[1] << 16;
	igb->store[(REG_RAL0 + 4) / 4] = igb->eeprom[2] | RAH_AV;

	igb->ctrl = CTRL_FD | CTRL_SLU | CTRL_SPD_1000;
	igb->ctrl_ext = 0;
	igb->eecd = EECD_PRES | EECD_AUTO_RD |
		    EECD_SIZE_256W << EECD_SIZE_SHIFT;
	igb->eerd = 0;
	igb->mdic = MDIC_READY;
	igb->swsm = 0;
	phy_poweron(igb);
	igb->icr = igb->ims = igb->iam = 0;
	igb->eicr = igb->eims = igb->eiac = igb->eiam = igb->gpie = 0;
	igb->eicr_inflight = igb->icr_inflight = igb->eicr_sent = 0;
	if (igb->legacy_asserted)
		ufd_pci_lower_intx(igb->pdev);
	igb->legacy_asserted = igb->legacy_refire = false;
	igb->rctl = 0;
	igb->tctl = TCTL_POWERON;
	queues_poweron(igb);
	for (i = 0; i < IGB_MAX_VFS; i++)
		vfslot_poweron(igb, (unsigned int)i);
	igb->mbvficr = igb->vflre = 0;
	memset(igb->stats, 0, sizeof(igb->stats));
	igb->link = mac_link(igb);
}

/* Make the worker put its batch down, and keep it idle. */
static void quiesce_begin(struct igb *igb)
{
	__atomic_add_fetch(&igb->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&igb->work_cv);
	while (igb->busy)
		ufd_pci_wait(igb->pdev, &igb->idle_cv);
}

static void quiesce_end(struct igb *igb)
{
	__atomic_sub_fetch(&igb->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&igb->work_cv);
}

static void device_reset(struct igb *igb)
{
	quiesce_begin(igb);
	regs_poweron(igb);
	quiesce_end(igb);
}

/* ---- statistics (lock held) -------------------------------------------- */

static uint64_t *stat(struct igb *igb, uint32_t off)
{
	return &igb->stats[(off - REG_STATS_FIRST) / 4];
}

static bool stat_is_pair_low(uint32_t off)
{
	return off == ST_GORCL || off == ST_GOTCL || off == ST_TORL ||
	       off == ST_TOTL || off == ST_HGORCL || off == ST_HGOTCL;
}

static uint32_t stat_read(struct igb *igb, uint32_t off)
{
	uint64_t *s;
	uint32_t v;

	if (stat_is_pair_low(off))
		return (uint32_t)*stat(igb, off);
	if (stat_is_pair_low(off - 4)) {
		/* Reading the high half clears the 64-bit counter. */
		s = stat(igb, off - 4);
		v = (uint32_t)(*s >> 32);
		*s = 0;
		return v;
	}
	s = stat(igb, off);
	v = *s > UINT32_MAX ? UINT32_MAX : (uint32_t)*s;
	*s = 0;
	return v;
}

/* The size bucket (64, 65-127, ..., 1024-1522) of a frame on the wire. */
static uint32_t size_bucket(uint32_t first, size_t wire)
{
	static const size_t upto[] = { 64, 127, 255, 511, 1023, 1522 };
	unsigned int i;

	for (i = 0; i < 6; i++)
		if (wire <= upto[i])
			return first + 4 * i;
	return 0;
}

static void count_frame(struct igb *igb, bool rx, const uint8_t *frame,
			size_t wire)
{
	bool bcast = frame[0] == 0xff && frame[1] == 0xff && frame[2] == 0xff &&
		     frame[3] == 0xff && frame[4] == 0xff && frame[5] == 0xff;
	bool mcast = !bcast && (frame[0] & 1);
	uint32_t bucket = size_bucket(rx ? ST_PRC64 : ST_PTC64, wire);

	if (rx) {
		(*stat(igb, ST_GPRC))++;
		*stat(igb, ST_GORCL) += wire;
		*stat(igb, ST_HGORCL) += wire;
		if (bcast)
			(*stat(igb, ST_BPRC))++;
		if (mcast)
			(*stat(igb, ST_MPRC))++;
	} else {
		(*stat(igb, ST_GPTC))++;
		(*stat(igb, ST_TPT))++;
		*stat(igb, ST_GOTCL) += wire;
		*stat(igb, ST_TOTL) += wire;
		*stat(igb, ST_HGOTCL) += wire;
		if (bcast)
			(*stat(igb, ST_BPTC))++;
		if (mcast)
			(*stat(igb, ST_MPTC))++;
	}
	if (bucket)
		(*stat(igb, bucket))++;
}

/* ---- queue registers (lock held) --------------------------------------- */

/* Is @off a queue register?  *q, *reg (offset in the block), *tx. */
static bool queue_reg(uint32_t off, unsigned int *q, uint32_t *reg, bool *tx)
{
	if (off >= 0x2800 && off < 0x2c00 && (off & 0xff) < 0x40) {
		*tx = false;
		*q = (off - 0x2800) / 0x100;
		*reg = off & 0x3f;
		return true;
	}
	if (off >= 0x3800 && off < 0x3c00 && (off & 0xff) < 0x40) {
		*tx = true;
		*q = (off - 0x3800) / 0x100;
		*reg = off & 0x3f;
		return true;
	}
	if (off >= 0xc000 && off < 0xc000 + 0x40 * IGB_NUM_QUEUES) {
		*tx = false;
		*q = (off - 0xc000) / 0x40;
		*reg = off & 0x3f;
		return true;
	}
	if (off >= 0xe000 && off < 0xe000 + 0x40 * IGB_NUM_QUEUES) {
		*tx = true;
		*q = (off - 0xe000) / 0x40;
		*reg = off & 0x3f;
		return true;
	}
	return false;
}

static struct ufd_pci_dev *queue_fn(struct igb *igb, unsigned int q, bool tx);

static uint32_t rxq_read(struct igb *igb, unsigned int q, uint32_t reg,
			 bool side_effects)
{
	struct igb_rxq *rx = &igb->rxq[q];
	uint32_t v;

	switch (reg) {
	case Q_BAL:
		return rx->bal;
	case Q_BAH:
		return rx->bah;
	case Q_LEN:
		return rx->len;
	case Q_SRRCTL:
		return rx->srrctl;
	case Q_HEAD:
		return rx->rdh;
	case Q_DCA:
		return rx->dca;
	case Q_TAIL:
		return rx->rdt;
	case Q_DCTL:
		/* ENABLE reads 0 until the receiver (and the pool) may run. */
		v = rx->dctl;
		if (!(igb->rctl & RCTL_EN) || !queue_fn(igb, q, false))
			v &= ~DCTL_ENABLE;
		return v;
	case Q_RQDPC:
		v = rx->rqdpc;
		if (side_effects)
			rx->rqdpc = 0;
		return v;
	}
	return 0;
}

static uint32_t txq_read(struct igb *igb, unsigned int q, uint32_t reg)
{
	struct igb_txq *tx = &igb->txq[q];
	uint32_t v;

	switch (reg) {
	case Q_BAL:
		return tx->bal;
	case Q_BAH:
		return tx->bah;
	case Q_LEN:
		return tx->len;
	case Q_HEAD:
		return tx->tdh;
	case Q_DCA:
		return tx->dca;
	case Q_TAIL:
		return tx->tdt;
	case Q_DCTL:
		v = tx->dctl;
		if (!(igb->tctl & TCTL_EN) || !queue_fn(igb, q, true))
			v &= ~DCTL_ENABLE;
		return v;
	case Q_TDWBAL:
		return tx->wbal;
	case Q_TDWBAH:
		return tx->wbah;
	}
	return 0;
}

static void rxq_write(struct igb *igb, struct igb_rxq *rx, uint32_t reg,
		      uint32_t v)
{
	switch (reg) {
	case Q_BAL:
		rx->bal = v & ~0x7fu;
		rx->gen++;
		break;
	case Q_BAH:
		rx->bah = v;
		rx->gen++;
		break;
	case Q_LEN:
		rx->len = v & 0x000fff80;
		rx->gen++;
		break;
	case Q_SRRCTL:
		rx->srrctl = v & SRRCTL_WMASK;
		break;
	case Q_HEAD:
		rx->rdh = rx->next = v & 0xffff;
		rx->gen++;
		break;
	case Q_DCA:
		rx->dca = v;
		break;
	case Q_TAIL:
		rx->rdt = v & 0xffff;
		break;
	case Q_DCTL:
		rx->dctl = v & RXDCTL_WMASK;
		break;
	}
	pthread_cond_broadcast(&igb->work_cv);
}

static void txq_write(struct igb *igb, struct igb_txq *tx, uint32_t reg,
		      uint32_t v)
{
	switch (reg) {
	case Q_BAL:
		tx->bal = v & ~0x7fu;
		tx->gen++;
		break;
	case Q_BAH:
		tx->bah = v;
		tx->gen++;
		break;
	case Q_LEN:
		tx->len = v & 0x000fff80;
		tx->gen++;
		break;
	case Q_HEAD:
		tx->tdh = tx->fetch = v & 0xffff;
		tx->gen++;
		break;
	case Q_DCA:
		tx->dca = v;
		break;
	case Q_TAIL:
		tx->tdt = v & 0xffff;
		break;
	case Q_DCTL:
		tx->dctl = v & TXDCTL_WMASK;
		break;
	case Q_TDWBAL:
		tx->wbal = v;
		break;
	case Q_TDWBAH:
		tx->wbah = v;
		break;
	}
	pthread_cond_broadcast(&igb->work_cv);
}

/* ---- the mailbox and the VFs, the PF's side (lock held) ---------------- */

/* VF @n's event for the PF: ICR.VMMB if MBVFIMR enables that VF. */
static void vf_mbx_interrupt(struct igb *igb, unsigned int n)
{
	if (plain_get(igb, REG_MBVFIMR) & (1u << n))
		icr_event(igb, ICR_VMMB);
}

/* VF @n is owed its mailbox interrupt: the worker sends it (file top). */
static void vf_mbx_notify(struct igb *igb, unsigned int n)
{
	igb->mbx_pending |= 1u << n;
	pthread_cond_broadcast(&igb->work_cv);
}

static bool pf_mbx_read(struct igb *igb, uint32_t off, uint32_t *v)
{
	struct igb_vfslot *slot;

	if (off >= REG_VMBMEM0 && off < REG_VMBMEM0 + 0x40 * IGB_MAX_VFS) {
		slot = &igb->vfslot[(off - REG_VMBMEM0) / 0x40];
		*v = slot->mbmem[(off & 0x3f) / 4];
		return true;
	}
	if (off >= REG_PFMAILBOX0 && off < REG_PFMAILBOX0 + 4 * IGB_MAX_VFS) {
		slot = &igb->vfslot[(off - REG_PFMAILBOX0) / 4];
		*v = ((slot->v2p & IGB_V2P_VFU) ? PFMBX_VFU : 0) |
		     ((slot->v2p & IGB_V2P_PFU) ? PFMBX_PFU : 0);
		return true;
	}
	switch (off) {
	case REG_MBVFICR:
		*v = igb->mbvficr;
		return true;
	case REG_VFLRE:
		*v = igb->vflre;
		return true;
	}
	return false;
}

/*
 * PFMAILBOX(n): PFU claims the buffer (refused while the VF holds it),
 * its absence releases it; RVFU takes the VF's claim away; STS and ACK
 * are strobes the VF sees as PFSTS and PFACK, with its interrupt.
 */
static void pf_mailbox_write(struct igb *igb, unsigned int n, uint32_t v)
{
	struct igb_vfslot *slot = &igb->vfslot[n];

	if (v & PFMBX_RVFU)
		slot->v2p &= ~IGB_V2P_VFU;
	if (!(v & PFMBX_PFU))
		slot->v2p &= ~IGB_V2P_PFU;
	else if (!(slot->v2p & IGB_V2P_VFU))
		slot->v2p |= IGB_V2P_PFU;
	if (v & PFMBX_STS)
		slot->v2p |= IGB_V2P_PFSTS;
	if (v & PFMBX_ACK)
		slot->v2p |= IGB_V2P_PFACK;
	if (v & (PFMBX_STS | PFMBX_ACK))
		vf_mbx_notify(igb, n);
}

/* @v the merged value, @bits the written ones; false: not a mailbox reg. */
static bool pf_mbx_write(struct igb *igb, uint32_t off, uint32_t v,
			 uint32_t bits)
{
	struct igb_vfslot *slot;

	if (off >= REG_VMBMEM0 && off < REG_VMBMEM0 + 0x40 * IGB_MAX_VFS) {
		slot = &igb->vfslot[(off - REG_VMBMEM0) / 0x40];
		/* The buffer is the VF's while it holds it. */
		if (!(slot->v2p & IGB_V2P_VFU))
			slot->mbmem[(off & 0x3f) / 4] = v;
		return true;
	}
	if (off >= REG_PFMAILBOX0 && off < REG_PFMAILBOX0 + 4 * IGB_MAX_VFS) {
		pf_mailbox_write(igb, (off - REG_PFMAILBOX0) / 4, v);
		return true;
	}
	switch (off) {
	case REG_MBVFICR: /* write 1 to clear */
		igb->mbvficr &= ~bits;
		return true;
	case REG_VFLRE:
		igb->vflre &= ~bits;
		return true;
	}
	return false;
}

/*
 * VF @n's queues stopped and back to power-on values (disabled), its
 * pool's VFRE and VFTE bits cleared, its mailbox bits RSTD (the PF's
 * claim kept), its reset count bumped.
 */
static void vf_stop(struct igb *igb, unsigned int n)
{
	struct igb_vfslot *slot = &igb->vfslot[n];
	uint32_t bit = 1u << n;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		unsigned int q = n + i * IGB_NUM_POOLS;

		queue_poweron(igb, q);
		igb->rxq[q].dctl &= ~DCTL_ENABLE;
		igb->txq[q].dctl &= ~DCTL_ENABLE;
	}
	igb->store[REG_VFRE / 4] &= ~bit;
	igb->store[REG_VFTE / 4] &= ~bit;
	slot->v2p = (slot->v2p & IGB_V2P_PFU) | IGB_V2P_RSTD;
	slot->epoch++;
	pthread_cond_broadcast(&igb->work_cv);
}

/* ---- the VFs' calls (igb_vf.h): the VF's lock held, then the PF's ----- */

/* Is @off one of VF @n's queue registers?  *q: PF queue n or n + 8. */
static bool vf_queue_reg(unsigned int n, uint32_t off, unsigned int *q,
			 uint32_t *reg, bool *tx)
{
	uint32_t base;

	if (off >= IGBVF_RXQ0 && off < IGBVF_RXQ0 + 0x200)
		base = IGBVF_RXQ0;
	else if (off >= IGBVF_TXQ0 && off < IGBVF_TXQ0 + 0x200)
		base = IGBVF_TXQ0;
	else
		return false;
	if ((off & 0xff) >= 0x40)
		return false;
	*tx = base == IGBVF_TXQ0;
	*q = n + IGB_NUM_POOLS * ((off - base) >> 8);
	*reg = off & 0x3f;
	return true;
}

bool ufd_igb_vf_read(struct ufd_pci_dev *pf, unsigned int n, uint32_t off,
		     bool side_effects, uint32_t *val)
{
	struct igb *igb = igb_of(pf);
	struct igb_vfslot *slot;
	bool served = true, tx;
	unsigned int q;
	uint32_t reg;

	if (n >= IGB_MAX_VFS || (off & 3))
		return false;
	slot = &igb->vfslot[n];
	ufd_pci_lock(pf);
	if (off >= IGBVF_VMBMEM && off < IGBVF_VMBMEM + 4 * VMBMEM_DWORDS) {
		*val = slot->mbmem[(off - IGBVF_VMBMEM) / 4];
	} else if (off == IGBVF_V2PMAILBOX) {
		*val = slot->v2p;
		if (side_effects)
			slot->v2p &= ~(IGB_V2P_PFSTS | IGB_V2P_PFACK |
				       IGB_V2P_RSTD);
	} else if (off == IGBVF_VTSTATUS) {
		*val = status_read(igb);
	} else if (off == VF_GPRC || off == VF_GPTC || off == VF_GORC ||
		   off == VF_GOTC || off == VF_MPRC) {
		*val = off == VF_GPRC ? slot->gprc :
		       off == VF_GPTC ? slot->gptc :
		       off == VF_GORC ? slot->gorc :
		       off == VF_GOTC ? slot->gotc :
					slot->mprc;
	} else if (vf_queue_reg(n, off, &q, &reg, &tx)) {
		*val = tx ? txq_read(igb, q, reg) :
			    rxq_read(igb, q, reg, side_effects);
	} else {
		served = false;
	}
	ufd_pci_unlock(pf);
	return served;
}

bool ufd_igb_vf_write(struct ufd_pci_dev *pf, unsigned int n, uint32_t off,
		      uint32_t v)
{
	struct igb *igb = igb_of(pf);
	struct igb_vfslot *slot;
	bool served = true, tx;
	unsigned int q;
	uint32_t reg;

	if (n >= IGB_MAX_VFS || (off & 3))
		return false;
	slot = &igb->vfslot[n];
	ufd_pci_lock(pf);
	if (off >= IGBVF_VMBMEM && off < IGBVF_VMBMEM + 4 * VMBMEM_DWORDS) {
		/* The buffer is the PF's while it holds it. */
		if (!(slot->v2p & IGB_V2P_PFU))
			slot->mbmem[(off - IGBVF_VMBMEM) / 4] = v;
	} else if (off == IGBVF_V2PMAILBOX) {
		/* VFU claims (refused while the PF holds it) or releases. */
		if (!(v & IGB_V2P_VFU))
			slot->v2p &= ~IGB_V2P_VFU;
		else if (!(slot->v2p & IGB_V2P_PFU))
			slot->v2p |= IGB_V2P_VFU;
		if (v & IGB_V2P_REQ)
			igb->mbvficr |= MBVFICR_VFREQ(n);
		if (v & IGB_V2P_ACK)
			igb->mbvficr |= MBVFICR_VFACK(n);
		if (v & (IGB_V2P_REQ | IGB_V2P_ACK))
			vf_mbx_interrupt(igb, n);
	} else if (vf_queue_reg(n, off, &q, &reg, &tx)) {
		if (tx)
			txq_write(igb, &igb->txq[q], reg, v);
		else
			rxq_write(igb, &igb->rxq[q], reg, v);
	} else {
		served = false;
	}
	ufd_pci_unlock(pf);
	return served;
}

void ufd_igb_vf_reset(struct ufd_pci_dev *pf, unsigned int n)
{
	struct igb *igb = igb_of(pf);

	if (n >= IGB_MAX_VFS)
		return;
	ufd_pci_lock(pf);
	vf_stop(igb, n);
	igb->vflre |= 1u << n;
	vf_mbx_interrupt(igb, n);
	ufd_pci_unlock(pf);
}

unsigned int ufd_igb_vf_epoch(struct ufd_pci_dev *pf, unsigned int n)
{
	struct igb *igb = igb_of(pf);
	unsigned int epoch;

	if (n >= IGB_MAX_VFS)
		return 0;
	ufd_pci_lock(pf);
	epoch = igb->vfslot[n].epoch;
	ufd_pci_unlock(pf);
	return epoch;
}

/* ---- register reads and writes (lock held) ------------------------------ */

static uint32_t reg_read(struct igb *igb, uint32_t off, bool side_effects)
{
	const struct igb_plain *p;
	unsigned int q;
	uint32_t reg, v;
	bool tx;

	switch (off) {
	case REG_CTRL:
	case REG_CTRL_ALIAS:
		return igb->ctrl;
	case REG_STATUS:
		return status_read(igb);
	case REG_EECD:
		return igb->eecd | ((igb->eecd & EECD_REQ) ? EECD_GNT : 0);
	case REG_EERD:
		return igb->eerd;
	case REG_CTRL_EXT:
		return igb->ctrl_ext;
	case REG_MDIC:
		return igb->mdic;
	case REG_ICR:
		v = igb->icr & ~igb->icr_inflight;
		if (igb->legacy_asserted && !msix_mode(igb))
			v |= ICR_INT_ASSERTED;
		if (side_effects) {
			igb->icr &= igb->icr_inflight;
			irq_update(igb);
		}
		return v;
	case REG_IMS:
		return igb->ims;
	case REG_IAM:
		return igb->iam;
	case REG_RCTL:
		return igb->rctl;
	case REG_TCTL:
		return igb->tctl;
	case REG_GPIE:
		return igb->gpie;
	case REG_EIMS:
		return igb->eims;
	case REG_EIAC:
		return igb->eiac;
	case REG_EIAM:
		return igb->eiam;
	case REG_EICR:
		v = igb->eicr & ~igb->eicr_inflight;
		if (side_effects) {
			igb->eicr &= igb->eicr_inflight;
			igb->eicr_sent &= igb->eicr_inflight;
			if (!(igb->gpie & GPIE_EIAME))
				igb->eims &= ~igb->eiam;
			irq_update(igb);
		}
		return v;
	case REG_SWSM:
		v = igb->swsm;
		/* Reading takes the software semaphore if it is free. */
		if (side_effects)
			igb->swsm |= SWSM_SMBI;
		return v;
	}
	if (pf_mbx_read(igb, off, &v))
		return v;
	if (off >= REG_STATS_FIRST && off <= REG_STATS_LAST) {
		if (!side_effects) {
			if (stat_is_pair_low(off))
				return (uint32_t)*stat(igb, off);
			if (stat_is_pair_low(off - 4))
				return (uint32_t)(*stat(igb, off - 4) >> 32);
			return (uint32_t)*stat(igb, off);
		}
		return stat_read(igb, off);
	}
	if (queue_reg(off, &q, &reg, &tx))
		return tx ? txq_read(igb, q, reg) :
			    rxq_read(igb, q, reg, side_effects);
	p = plain_find(off);
	return p ? plain_get(igb, off) : 0;
}

static void write_ctrl(struct igb *igb, uint32_t v)
{
	if (v & (CTRL_RST | CTRL_DEV_RST)) {
		/* The reset is done, and the EEPROM re-read, on return. */
		device_reset(igb);
		return;
	}
	if (v & CTRL_PHY_RST)
		phy_poweron(igb);
	igb->ctrl = v & ~CTRL_SELF_CLEARING;
	link_update(igb);
}

static void write_eerd(struct igb *igb, uint32_t v)
{
	unsigned int addr = (v >> EERD_ADDR_SHIFT) & EERD_ADDR_MASK;
	uint16_t data;

	if (!(v & EERD_START)) {
		igb->eerd = v & ~EERD_DONE;
		return;
	}
	data = addr < EEPROM_WORDS ? igb->eeprom[addr] : 0xffff;
	igb->eerd = (v & ~EERD_START) | EERD_DONE |
		    (uint32_t)data << EERD_DATA_SHIFT;
}

static void write_mdic(struct igb *igb, uint32_t v)
{
	unsigned int phy = (v >> MDIC_PHY_SHIFT) & MDIC_PHY_MASK;
	unsigned int reg = (v >> MDIC_REG_SHIFT) & MDIC_REG_MASK;
	uint32_t out = v & ~(MDIC_READY | MDIC_ERROR);

	if (!(v & (MDIC_OP_READ | MDIC_OP_WRITE))) {
		igb->mdic = out | MDIC_READY;
		return;
	}
	if (phy != IGB_PHY_ADDR) {
		/* No PHY answers at that address. */
		out |= MDIC_ERROR;
	} else if (v & MDIC_OP_READ) {
		out = (out & ~MDIC_DATA_MASK) | phy_read(igb, reg);
	} else {
		phy_write(igb, reg, (uint16_t)(v & MDIC_DATA_MASK));
		link_update(igb);
	}
	igb->mdic = out | MDIC_READY;
	if (v & MDIC_INT_EN)
		icr_event(igb, ICR_MDAC);
}

/* @v: the register's new value (merged); @written: the bytes written. */
static void reg_write(struct igb *igb, uint32_t off, uint32_t v,
		      uint32_t written)
{
	const struct igb_plain *p;
	uint32_t bits = v & written, reg;
	unsigned int q;
	bool tx;

	switch (off) {
	case REG_CTRL:
	case REG_CTRL_ALIAS:
		write_ctrl(igb, v);
		return;
	case REG_EECD:
		igb->eecd = (igb->eecd & ~EECD_REQ) | (v & EECD_REQ);
		return;
	case REG_EERD:
		write_eerd(igb, v);
		return;
	case REG_CTRL_EXT:
		igb->ctrl_ext = v;
		return;
	case REG_MDIC:
		write_mdic(igb, v);
		return;
	case REG_ICR: /* write 1 to clear */
		igb->icr &= ~bits;
		irq_update(igb);
		return;
	case REG_ICS:
		icr_event(igb, bits);
		return;
	case REG_IMS:
		igb->ims |= bits & ICR_CAUSES;
		if (igb->icr & bits) {
			/* A pending cause unmasked: an MSI, or the misc vector. */
			igb->legacy_refire = true;
			if (msix_mode(igb))
				eicr_event(igb, misc_eicr_bit(igb));
		}
		irq_update(igb);
		return;
	case REG_IMC:
		igb->ims &= ~bits;
		irq_update(igb);
		return;
	case REG_IAM:
		igb->iam = v;
		return;
	case REG_RCTL:
		igb->rctl = v & RCTL_WMASK;
		pthread_cond_broadcast(&igb->work_cv);
		return;
	case REG_TCTL:
		igb->tctl = v & TCTL_WMASK;
		pthread_cond_broadcast(&igb->work_cv);
		return;
	case REG_GPIE:
		igb->gpie = v & GPIE_WMASK;
		irq_update(igb);
		return;
	case REG_EICS:
		eicr_event(igb, bits);
		irq_update(igb);
		return;
	case REG_EIMS:
		igb->eims |= bits & EICR_VALID;
		if (igb->eicr & bits)
			igb->legacy_refire = true;
		irq_update(igb);
		return;
	case REG_EIMC:
		igb->eims &= ~bits;
		/* Unmasking again sends what is still pending. */
		igb->eicr_sent &= ~bits;
		irq_update(igb);
		return;
	case REG_EIAC:
		igb->eiac = v & EICR_VALID;
		return;
	case REG_EIAM:
		igb->eiam = v & EICR_VALID;
		return;
	case REG_EICR: /* write 1 to clear */
		igb->eicr &= ~bits;
		igb->eicr_sent &= ~bits;
		if (!(igb->gpie & GPIE_EIAME))
			igb->eims &= ~(igb->eiam & bits);
		irq_update(igb);
		return;
	case REG_SWSM:
		igb->swsm = v & (SWSM_SMBI | SWSM_SWESMBI);
		return;
	}
	if (pf_mbx_write(igb, off, v, bits))
		return;
	if (off >= REG_STATS_FIRST && off <= REG_STATS_LAST)
		return; /* read-only */
	if (queue_reg(off, &q, &reg, &tx)) {
		if (tx)
			txq_write(igb, &igb->txq[q], reg, v);
		else
			rxq_write(igb, &igb->rxq[q], reg, v);
		return;
	}
	p = plain_find(off);
	if (p)
		igb->store[off / 4] = (plain_get(igb, off) & ~p->wmask) |
				      (v & p->wmask);
	if (off == REG_VFTE || off == REG_VFRE)
		pthread_cond_broadcast(&igb->work_cv); /* a pool may run */
}

static uint64_t igb_bar_read(struct ufd_pci_dev *pdev, unsigned int bar,
			     uint64_t off, unsigned int size)
{
	struct igb *igb = igb_of(pdev);
	uint64_t v = 0, at;

	if (bar != 0 || off >= IGB_BAR0_SIZE || size > IGB_BAR0_SIZE - off)
		return 0;
	for (at = off & ~3ULL; at < off + size; at += 4) {
		uint32_t r = reg_read(igb, (uint32_t)at, true);
		unsigned int b;

		for (b = 0; b < 4; b++) {
			uint64_t byte_at = at + b;

			if (byte_at < off || byte_at >= off + size)
				continue;
			v |= (uint64_t)((r >> (8 * b)) & 0xff)
			     << (8 * (byte_at - off));
		}
	}
	return v;
}

static void igb_bar_write(struct ufd_pci_dev *pdev, unsigned int bar,
			  uint64_t off, unsigned int size, uint64_t value)
{
	struct igb *igb = igb_of(pdev);
	uint64_t at;

	if (bar != 0 || off >= IGB_BAR0_SIZE || size > IGB_BAR0_SIZE - off)
		return;
	for (at = off & ~3ULL; at < off + size; at += 4) {
		uint32_t bytes = 0, written = 0, merged;
		unsigned int b;

		for (b = 0; b < 4; b++) {
			uint64_t byte_at = at + b;

			if (byte_at < off || byte_at >= off + size)
				continue;
			bytes |= (uint32_t)((value >> (8 * (byte_at - off))) &
					    0xff)
				 << (8 * b);
			written |= 0xffu << (8 * b);
		}
		merged = written == 0xffffffff ?
				 bytes :
				 (reg_read(igb, (uint32_t)at, false) &
				  ~written) |
					 bytes;
		reg_write(igb, (uint32_t)at, merged, written);
	}
}

/* ---- backends -------------------------------------------------------------- */

static bool loopback_transmit(struct igb *igb, const uint8_t *frame, size_t len)
{
	(void)igb;
	(void)frame;
	(void)len;
	return true;
}

static bool none_transmit(struct igb *igb, const uint8_t *frame, size_t len)
{
	(void)igb;
	(void)frame;
	(void)len;
	return false;
}

/* pcap: the classic format, microsecond stamps, link type Ethernet. */
static int pcap_open(struct igb *igb, const char *path)
{
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 };

	if (!path || !*path)
		return -EINVAL;
	igb->pcap = fopen(path, "wb");
	if (!igb->pcap)
		return -errno;
	if (fwrite(hdr, sizeof(hdr), 1, igb->pcap) != 1 || fflush(igb->pcap)) {
		fclose(igb->pcap);
		igb->pcap = NULL;
		return -EIO;
	}
	return 0;
}

static void pcap_close(struct igb *igb)
{
	if (igb->pcap)
		fclose(igb->pcap);
	igb->pcap = NULL;
}

static bool pcap_transmit(struct igb *igb, const uint8_t *frame, size_t len)
{
	struct timeval tv;
	uint32_t rec[4];

	gettimeofday(&tv, NULL);
	rec[0] = (uint32_t)tv.tv_sec;
	rec[1] = (uint32_t)tv.tv_usec;
	rec[2] = rec[3] = (uint32_t)len;
	if (fwrite(rec, sizeof(rec), 1, igb->pcap) == 1)
		(void)fwrite(frame, len, 1, igb->pcap);
	(void)fflush(igb->pcap);
	return false;
}

/*
 * The receiving backends: a fd whose reads are frames (a tap device, a
 * datagram socket).  One reader thread per device waits on it, with every
 * signal blocked (the model's threads take none of the program's).
 */
static void inbox_put(struct igb *igb, const uint8_t *frame, size_t len)
{
	struct igb_inbox *in = &igb->inbox;
	unsigned int slot;

	ufd_pci_lock(igb->pdev);
	if (in->count == INBOX_FRAMES) {
		(*stat(igb, ST_MPC))++;
	} else {
		slot = (in->head + in->count) % INBOX_FRAMES;
		memcpy(in->buf[slot], frame, len);
		in->len[slot] = len;
		in->count++;
		pthread_cond_broadcast(&igb->work_cv);
	}
	ufd_pci_unlock(igb->pdev);
}

static void *reader_main(void *arg)
{
	struct igb *igb = arg;
	uint8_t *frame = igb->inframe + FRAME_MAX + FRAME_SLACK;

	for (;;) {
		struct pollfd p[2] = { { .fd = igb->io_fd, .events = POLLIN },
				       { .fd = igb->stop_fd,
					 .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN)) {
			if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
				break;
			continue;
		}
		n = read(igb->io_fd, frame, FRAME_MAX);
		/* Shorter than a header: nothing a MAC would take. */
		if (n >= 14)
			inbox_put(igb, frame, (size_t)n);
	}
	return NULL;
}

static void reader_stop(struct igb *igb)
{
	uint64_t one = 1;
	unsigned int i;

	if (igb->reader_running) {
		if (write(igb->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write of 1 cannot fail */
		}
		pthread_join(igb->reader, NULL);
		igb->reader_running = false;
	}
	if (igb->stop_fd >= 0)
		close(igb->stop_fd);
	if (igb->io_fd >= 0)
		close(igb->io_fd);
	igb->stop_fd = igb->io_fd = -1;
	for (i = 0; i < INBOX_FRAMES; i++) {
		free(igb->inbox.buf[i]);
		igb->inbox.buf[i] = NULL;
	}
	free(igb->inframe);
	igb->inframe = NULL;
}

/* With io_fd open: the inbox, the stop eventfd, the reader thread. */
static int reader_start(struct igb *igb)
{
	unsigned int i;
	int rc;

	/* The worker's frame, then the reader's: one allocation. */
	igb->inframe = ufd_zalloc(2 * (FRAME_MAX + FRAME_SLACK));
	for (i = 0; igb->inframe && i < INBOX_FRAMES; i++) {
		igb->inbox.buf[i] = ufd_zalloc(FRAME_MAX + FRAME_SLACK);
		if (!igb->inbox.buf[i])
			break;
	}
	if (!igb->inframe || i < INBOX_FRAMES) {
		reader_stop(igb);
		return -ENOMEM;
	}
	igb->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (igb->stop_fd < 0) {
		rc = -errno;
		reader_stop(igb);
		return rc;
	}
	rc = ufd_inject_fail() ? EAGAIN :
				 pthread_create(&igb->reader, NULL,
						reader_main, igb);
	if (rc) {
		reader_stop(igb);
		return -rc;
	}
	igb->reader_running = true;
	return 0;
}

/* tap=NAME: the tap interface NAME (made if it does not exist). */
static int tap_open(struct igb *igb, const char *name)
{
	struct ifreq ifr;
	int rc;

	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	igb->io_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (igb->io_fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(igb->io_fd, TUNSETIFF, &ifr)) {
		rc = -errno;
		close(igb->io_fd);
		igb->io_fd = -1;
		return rc;
	}
	return reader_start(igb);
}

/*
 * unix=LOCAL:REMOTE: a datagram socket bound at path LOCAL (a stale
 * socket file there is replaced) that sends every frame to REMOTE and
 * receives from anyone; two devices with the paths swapped are a cable.
 */
static int unix_open(struct igb *igb, const char *arg)
{
	const char *colon = arg ? strchr(arg, ':') : NULL;
	struct sockaddr_un local = { .sun_family = AF_UNIX };
	size_t llen;
	int rc;

	if (!colon || colon == arg || !colon[1])
		return -EINVAL;
	llen = (size_t)(colon - arg);
	if (llen >= sizeof(local.sun_path) ||
	    strlen(colon + 1) >= sizeof(igb->peer.sun_path))
		return -ENAMETOOLONG;
	memcpy(local.sun_path, arg, llen);
	igb->peer.sun_family = AF_UNIX;
	strcpy(igb->peer.sun_path, colon + 1);
	igb->io_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (igb->io_fd < 0)
		return -errno;
	unlink(local.sun_path);
	if (bind(igb->io_fd, (struct sockaddr *)&local, sizeof(local))) {
		rc = -errno;
		close(igb->io_fd);
		igb->io_fd = -1;
		return rc;
	}
	return reader_start(igb);
}

static bool fd_transmit(struct igb *igb, const uint8_t *frame, size_t len)
{
	/* A full or absent receiver drops the frame, as a cable would. */
	if (write(igb->io_fd, frame, len) < 0) {
		/* nothing to do */
	}
	return false;
}

static bool unix_transmit(struct igb *igb, const uint8_t *frame, size_t len)
{
	(void)sendto(igb->io_fd, frame, len, MSG_DONTWAIT,
		     (struct sockaddr *)&igb->peer, sizeof(igb->peer));
	return false;
}

static const struct igb_backend_ops backend_tap = {
	.name = "tap",
	.carrier = true,
	.open = tap_open,
	.close = reader_stop,
	.transmit = fd_transmit,
};

static const struct igb_backend_ops backend_unix = {
	.name = "unix",
	.carrier = true,
	.open = unix_open,
	.close = reader_stop,
	.transmit = unix_transmit,
};

static const struct igb_backend_ops backend_loopback = {
	.name = "loopback",
	.carrier = true,
	.transmit = loopback_transmit,
};

static const struct igb_backend_ops backend_none = {
	.name = "none",
	.carrier = false,
	.transmit = none_transmit,
};

static const struct igb_backend_ops backend_pcap = {
	.name = "pcap",
	.carrier = true,
	.open = pcap_open,
	.close = pcap_close,
	.transmit = pcap_transmit,
};

/* ---- the receive path (worker, lock not held) -------------------------- */

static uint32_t crc32_table[256];
static pthread_once_t crc32_once = PTHREAD_ONCE_INIT;

static void crc32_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		for (c = i, j = 0; j < 8; j++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc32_table[i] = c;
	}
}

static uint32_t eth_crc32(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffff;
	size_t i;

	pthread_once(&crc32_once, crc32_init);
	for (i = 0; i < len; i++)
		c = crc32_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

/* Is @da one of the receive addresses?  *poolsel: their pools (RAH). */
static bool rar_match(struct igb *igb, const uint8_t *da, uint32_t *poolsel)
{
	bool hit = false;
	unsigned int i;

	*poolsel = 0;
	for (i = 0; i < IGB_NUM_RAR; i++) {
		uint32_t base = i < 16 ? REG_RAL0 + 8 * i :
					 REG_RAL16 + 8 * (i - 16);
		uint32_t lo = plain_get(igb, base),
			 hi = plain_get(igb, base + 4);
		uint8_t a[6] = { (uint8_t)lo,	      (uint8_t)(lo >> 8),
				 (uint8_t)(lo >> 16), (uint8_t)(lo >> 24),
				 (uint8_t)hi,	      (uint8_t)(hi >> 8) };

		if ((hi & RAH_AV) && !memcmp(a, da, 6)) {
			hit = true;
			*poolsel |= (hi >> RAH_POOLSEL_SHIFT) & RAH_POOLSEL_MASK;
		}
	}
	return hit;
}

/* Does multicast @da hit the MTA hash (RCTL.MO picks the bits)? */
static bool mta_hit(struct igb *igb, const uint8_t *da)
{
	unsigned int mo = (igb->rctl >> RCTL_MO_SHIFT) & 3;
	uint32_t hash, mta;

	hash = ((uint32_t)da[4] >> (4 - mo)) | ((uint32_t)da[5] << (4 + mo));
	hash &= 0xfff;
	mta = plain_get(igb, REG_MTA + 4 * (hash >> 5));
	return mta & (1u << (hash & 31));
}

static bool is_bcast(const uint8_t *da)
{
	return !memcmp(da, "\xff\xff\xff\xff\xff\xff", 6);
}

/* Does the receive filter take a frame to @da (lock held; no VMDq)? */
static bool rx_accept(struct igb *igb, const uint8_t *da)
{
	uint32_t poolsel;

	if (da[0] & 1) {
		if (is_bcast(da))
			return igb->rctl & RCTL_BAM;
		if (igb->rctl & RCTL_MPE)
			return true;
		return mta_hit(igb, da);
	}
	if (igb->rctl & RCTL_UPE)
		return true;
	return rar_match(igb, da, &poolsel);
}

/* ---- pools (lock held) ----------------------------------------------- */

/*
 * The VFs enabled (SR-IOV VF Enable and NumVFs): with none the port is
 * one PF as without SR-IOV; with n, queues q and q + 8 are pool q, pools
 * [0, n) are VF 0..n-1's and the rest the PF's (VMDq, datasheet 7.8).
 */
static unsigned int vf_count(struct igb *igb)
{
	struct ufd_pci_dev *pdev = igb->pdev;
	unsigned int n;

	if (!pdev->sriov_cap ||
	    !(ufd_pci_cfg_get(pdev, pdev->sriov_cap + PCI_SRIOV_CTRL, 2) &
	      PCI_SRIOV_CTRL_VFE))
		return 0;
	n = ufd_pci_cfg_get(pdev, pdev->sriov_cap + PCI_SRIOV_NUM_VF, 2);
	return n > IGB_MAX_VFS ? IGB_MAX_VFS : n;
}

/* The VF queue @q serves, or -1: the PF's. */
static int queue_vf(struct igb *igb, unsigned int q)
{
	unsigned int pool = q % IGB_NUM_POOLS;

	return pool < vf_count(igb) ? (int)pool : -1;
}

/*
 * The function whose DMA queue @q does (its descriptors and buffers: the
 * VF's IOMMU domain for a VF's queue), or NULL if the queue may not run:
 * a VF's queue needs the VF instance and its VFRE (receive) or VFTE
 * (transmit) bit.
 */
static struct ufd_pci_dev *queue_fn(struct igb *igb, unsigned int q, bool tx)
{
	int vf = queue_vf(igb, q);

	if (vf < 0)
		return igb->pdev;
	if (!(plain_get(igb, tx ? REG_VFTE : REG_VFRE) & (1u << vf)))
		return NULL;
	return igb->pdev->vfs[vf];
}

static uint32_t pools_with(struct igb *igb, uint32_t vmolr_bits)
{
	uint32_t pools = 0;
	unsigned int p;

	for (p = 0; p < IGB_NUM_POOLS; p++)
		if (plain_get(igb, REG_VMOLR0 + 4 * p) & vmolr_bits)
			pools |= 1u << p;
	return pools;
}

static uint32_t default_pool(struct igb *igb)
{
	uint32_t vt = plain_get(igb, REG_VT_CTL);

	if (vt & VT_CTL_DIS_DEF_POOL)
		return 0;
	return 1u << ((vt >> VT_CTL_DEF_PL_SHIFT) & VT_CTL_DEF_PL_MASK);
}

/*
 * The pools a frame to @da goes to (VMDq): broadcast to the pools with
 * VMOLR.BAM; multicast to those with VMOLR.MPME, and with VMOLR.ROMPE if
 * it hits the MTA; unicast to the POOLSEL pools of the receive addresses
 * it matches (*exact; the default pool if they name none), else with
 * RCTL.UPE to the default pool, else nowhere.
 */
static uint32_t rx_pools(struct igb *igb, const uint8_t *da, bool *exact)
{
	uint32_t poolsel;

	*exact = false;
	if (da[0] & 1) {
		if (is_bcast(da))
			return pools_with(igb, VMOLR_BAM);
		return pools_with(igb, VMOLR_MPME) |
		       (mta_hit(igb, da) ? pools_with(igb, VMOLR_ROMPE) : 0);
	}
	if (rar_match(igb, da, &poolsel)) {
		*exact = true;
		return poolsel ? poolsel : default_pool(igb);
	}
	return (igb->rctl & RCTL_UPE) ? default_pool(igb) : 0;
}

static uint32_t rx_buffer_size(struct igb *igb, uint32_t srrctl)
{
	static const uint32_t bsize[4] = { 2048, 1024, 512, 256 };
	uint32_t pkt = srrctl & SRRCTL_BSIZEPKT_MASK;
	uint32_t v;

	if (pkt)
		return pkt * 1024;
	v = bsize[(igb->rctl >> RCTL_BSIZE_SHIFT) & 3];
	if ((igb->rctl & RCTL_BSEX) && v != 2048)
		v *= 16;
	return v;
}

/* The event of VF queue @q (0..7: the VF's queue 0; 8..15: queue 1). */
static unsigned int vf_queue_event(unsigned int q, bool tx)
{
	if (q < IGB_NUM_POOLS)
		return tx ? IGBVF_EV_TX0 : IGBVF_EV_RX0;
	return tx ? IGBVF_EV_TX1 : IGBVF_EV_RX1;
}

/*
 * Make queue @q's write-back batch visible, then RDH: the causes are set
 * first and sent after (see the file top), for a VF's queue in the VF.
 * A failed write wedges the queue.
 */
static void rx_flush(struct igb *igb, unsigned int q)
{
	struct igb_rxcache *c = &igb->rxc[q];
	struct ufd_pci_dev *pdev = igb->pdev, *fn;
	struct igb_rxq *rx = &igb->rxq[q];
	struct igbvf_cause vfc;
	struct igb_cause cause;
	unsigned int epoch = 0;
	bool made;
	int vf, rc;

	if (!c->wb_n)
		return;
	ufd_pci_lock(pdev);
	fn = queue_fn(igb, q, false);
	if (cancel_count(igb) || rx->gen != c->wb_gen || rx->wedged || !fn) {
		ufd_pci_unlock(pdev);
		c->wb_n = 0;
		return;
	}
	vf = queue_vf(igb, q);
	memset(&cause, 0, sizeof(cause));
	if (vf < 0)
		cause_begin(igb, false, q, &cause);
	else
		epoch = igb->vfslot[vf].epoch;
	ufd_pci_unlock(pdev);
	memset(&vfc, 0, sizeof(vfc));
	if (vf >= 0) /* fn is that VF (queue_fn) */
		ufd_igbvf_cause_begin(fn, vf_queue_event(q, false), epoch, &vfc);

	rc = ufd_pci_dma_write(fn,
			       c->wb_ring + (uint64_t)c->wb_first * DESC_LEN,
			       c->wb, (size_t)c->wb_n * DESC_LEN);

	ufd_pci_lock(pdev);
	made = !rc && !cancel_count(igb) && rx->gen == c->wb_gen;
	if (!made) {
		cause_abort(igb, &cause);
		if (rc && rx->gen == c->wb_gen)
			rx->wedged = true;
	} else {
		rx->rdh = (c->wb_first + c->wb_n) % (rx->len / DESC_LEN);
	}
	cause_end(igb, &cause);
	ufd_pci_unlock(pdev);
	ufd_igbvf_cause_end(&vfc, made);
	c->wb_n = 0;
}

static void rx_flush_all(struct igb *igb)
{
	unsigned int q;

	for (q = 0; q < IGB_NUM_QUEUES; q++)
		rx_flush(igb, q);
}

/* The buffer address of queue @q's descriptor @idx, fetched in batches. */
static int rx_desc_addr(struct igb *igb, unsigned int q, struct ufd_pci_dev *fn,
			uint64_t ring, uint32_t ndesc, uint32_t idx,
			uint32_t avail, uint32_t gen, uint64_t *addr)
{
	struct igb_rxcache *c = &igb->rxc[q];
	uint8_t raw[BATCH * DESC_LEN];
	unsigned int n, i;

	if (c->gen != gen) {
		c->gen = gen;
		c->n = 0;
	}
	if (c->n && idx >= c->first && idx < c->first + c->n) {
		unsigned int k = idx - c->first;

		/* Taken: the ring may give this index a new buffer. */
		*addr = c->addr[c->off + k];
		c->first = idx + 1;
		c->off += k + 1;
		c->n -= k + 1;
		return 0;
	}
	n = avail < BATCH ? avail : BATCH;
	if (n > ndesc - idx)
		n = ndesc - idx;
	if (!n)
		return -ENOSPC;
	if (ufd_pci_dma_read(fn, ring + (uint64_t)idx * DESC_LEN, raw,
			     (size_t)n * DESC_LEN)) {
		c->n = 0;
		return -EFAULT;
	}
	for (i = 0; i < n; i++)
		c->addr[i] = get_le64(raw + i * DESC_LEN);
	*addr = c->addr[0];
	c->first = idx + 1;
	c->off = 1;
	c->n = n - 1;
	return 0;
}

static void rx_wedge(struct igb *igb, unsigned int q, uint32_t gen)
{
	ufd_pci_lock(igb->pdev);
	if (igb->rxq[q].gen == gen)
		igb->rxq[q].wedged = true;
	ufd_pci_unlock(igb->pdev);
}

/*
 * A frame the filters gave to receive queue @q: @len bytes, plus the FCS
 * if not @fcs_pending (@buf has room for it and is changed).
 */
static void rx_queue_frame(struct igb *igb, unsigned int q, uint8_t *buf,
			   size_t len, bool fcs_pending)
{
	struct ufd_pci_dev *pdev = igb->pdev, *fn;
	struct igb_rxcache *c = &igb->rxc[q];
	struct igb_rxq *rx = &igb->rxq[q];
	size_t wire = len + (fcs_pending ? ETH_FCS : 0), out, done;
	uint32_t ndesc, first, avail, bufsz, need, gen, i, rctl;
	uint16_t vlan = 0;
	bool advanced, strip;
	uint64_t ring;

	ufd_pci_lock(pdev);
	fn = queue_fn(igb, q, false);
	if (cancel_count(igb) || !fn || !(rx->dctl & DCTL_ENABLE) ||
	    rx->wedged || rx->len < DESC_LEN) {
		ufd_pci_unlock(pdev);
		return;
	}
	rctl = igb->rctl;
	/* CTRL.VME: a tagged frame's tag goes to the descriptor. */
	strip = (igb->ctrl & CTRL_VME) && len >= 18 &&
		get_be16(buf + 12) == (uint16_t)plain_get(igb, REG_VET);
	if (strip) {
		wire -= 4;
		len -= 4;
	}
	ndesc = rx->len / DESC_LEN;
	first = rx->next;
	if (first >= ndesc || rx->rdt >= ndesc) {
		ufd_pci_unlock(pdev);
		return;
	}
	avail = (rx->rdt + ndesc - first) % ndesc;
	bufsz = rx_buffer_size(igb, rx->srrctl);
	out = (rctl & RCTL_SECRC) ? wire - ETH_FCS : wire;
	need = (uint32_t)((out + bufsz - 1) / bufsz);
	if (!need)
		need = 1;
	if (avail < need) {
		(*stat(igb, ST_RNBC))++;
		(*stat(igb, ST_MPC))++;
		if (rx->srrctl & SRRCTL_DROP_EN)
			rx->rqdpc++;
		ufd_pci_unlock(pdev);
		return;
	}
	advanced = ((rx->srrctl >> SRRCTL_DESCTYPE_SHIFT) &
		    SRRCTL_DESCTYPE_MASK) != 0;
	ring = (uint64_t)rx->bah << 32 | rx->bal;
	gen = rx->gen;
	count_frame(igb, true, buf, wire + (strip ? 4 : 0));
	if (queue_vf(igb, q) >= 0) {
		struct igb_vfslot *slot = &igb->vfslot[queue_vf(igb, q)];

		slot->gprc++;
		slot->gorc += (uint32_t)(wire + (strip ? 4 : 0));
		if ((buf[0] & 1) && !is_bcast(buf))
			slot->mprc++;
	}
	ufd_pci_unlock(pdev);

	if (strip) {
		vlan = get_be16(buf + 14);
		memmove(buf + 12, buf + 16, len - 12);
	}
	if (fcs_pending && !(rctl & RCTL_SECRC)) {
		uint32_t crc = eth_crc32(buf, len);

		put_le32(buf + len, crc);
	}
	if (c->wb_n && c->wb_gen != gen)
		c->wb_n = 0;
	for (i = 0, done = 0; i < need; i++) {
		uint32_t idx = (first + i) % ndesc;
		size_t n = out - done < bufsz ? out - done : bufsz;
		uint8_t *d;
		uint64_t addr;

		if (rx_desc_addr(igb, q, fn, ring, ndesc, idx, avail - i, gen,
				 &addr) ||
		    (n && ufd_pci_dma_write(fn, addr, buf + done, n))) {
			rx_flush(igb, q);
			rx_wedge(igb, q, gen);
			return;
		}
		done += n;
		if (c->wb_n &&
		    (c->wb_n == BATCH || c->wb_first + c->wb_n != idx))
			rx_flush(igb, q);
		if (!c->wb_n) {
			c->wb_first = idx;
			c->wb_gen = gen;
			c->wb_ring = ring;
		}
		d = c->wb[c->wb_n++];
		memset(d, 0, DESC_LEN);
		if (advanced) {
			/* Advanced one-buffer write-back. */
			put_le32(d + 8,
				 RXD_STAT_DD |
					 (i + 1 == need ? RXD_STAT_EOP : 0) |
					 (strip ? RXD_STAT_VP : 0));
			put_le16(d + 12, (uint16_t)n);
			put_le16(d + 14, vlan);
		} else {
			memcpy(d, &(uint64_t){ htole64(addr) }, 8);
			put_le16(d + 8, (uint16_t)n);
			d[12] = RXD_STAT_DD | RXD_STAT_IXSM |
				(i + 1 == need ? RXD_STAT_EOP : 0) |
				(strip ? RXD_STAT_VP : 0);
			put_le16(d + 14, vlan);
		}
	}
	ufd_pci_lock(pdev);
	if (rx->gen == gen)
		rx->next = (first + need) % ndesc;
	ufd_pci_unlock(pdev);
}

/*
 * A frame arrives at the MAC: @len bytes, plus its FCS (4 more) unless
 * @fcs_pending (then it is computed here if the receiver keeps it); @buf
 * has FRAME_SLACK bytes of room.  Without VFs it goes to queue 0 if the
 * filter takes it; with VFs to the first queue of each pool that
 * rx_pools() names, or of @local_pools (local switching: the pools are
 * chosen).  A frame for several queues is copied for each; with @keep
 * @buf is never changed.
 */
static void rx_frame(struct igb *igb, uint8_t *buf, size_t len,
		     bool fcs_pending, uint32_t local_pools, bool keep)
{
	struct ufd_pci_dev *pdev = igb->pdev;
	size_t wire = len + (fcs_pending ? ETH_FCS : 0);
	struct igb_rxq *rx0 = &igb->rxq[0];
	uint32_t maxlen, rctl, queues;
	bool exact;

	ufd_pci_lock(pdev);
	if (cancel_count(igb) || !(igb->rctl & RCTL_EN) || wire < 14 ||
	    (!vf_count(igb) && (!(rx0->dctl & DCTL_ENABLE) || rx0->wedged ||
				rx0->len < DESC_LEN))) {
		ufd_pci_unlock(pdev);
		return;
	}
	(*stat(igb, ST_TPR))++;
	*stat(igb, ST_TORL) += wire;
	if (!vf_count(igb))
		queues = rx_accept(igb, buf) ? 1u : 0;
	else
		queues = local_pools ? local_pools : rx_pools(igb, buf, &exact);
	if (!queues) {
		ufd_pci_unlock(pdev);
		return;
	}
	rctl = igb->rctl;
	maxlen = (rctl & RCTL_LPE) ? plain_get(igb, REG_RLPML) : ETH_MAX_STD;
	if (wire > maxlen) {
		(*stat(igb, ST_ROC))++;
		ufd_pci_unlock(pdev);
		return;
	}
	if (wire < ETH_MIN_NOFCS + ETH_FCS && !(rctl & RCTL_SBP)) {
		(*stat(igb, ST_RUC))++;
		ufd_pci_unlock(pdev);
		return;
	}
	ufd_pci_unlock(pdev);

	while (queues) {
		unsigned int q = (unsigned int)__builtin_ctz(queues);

		queues &= queues - 1;
		if (keep || queues) {
			memcpy(igb->rxcopy, buf, len);
			rx_queue_frame(igb, q, igb->rxcopy, len, fcs_pending);
		} else {
			rx_queue_frame(igb, q, buf, len, fcs_pending);
		}
	}
}

/* ---- the transmit path (worker, lock not held) ------------------------- */

/* Ones' complement sum of big-endian 16-bit words, odd end padded. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum over [start, len) (the field at @at included, as
 * software seeded it), plus @extra, stored at @at. */
static void csum_insert(uint8_t *buf, size_t len, size_t start, size_t at,
			uint32_t extra, bool udp)
{
	uint16_t c;

	if (start >= len || at + 2 > len)
		return;
	c = (uint16_t)~csum_fold(csum_add(extra, buf + start, len - start));
	if (udp && !c)
		c = 0xffff;
	put_be16(buf + at, c);
}

/* The IPv4 header checksum (IXSM) at @maclen, @iplen bytes long. */
static void csum_ipv4(uint8_t *buf, size_t len, size_t maclen, size_t iplen)
{
	if (iplen < 20 || maclen + iplen > len)
		return;
	put_be16(buf + maclen + 10, 0);
	put_be16(buf + maclen + 10,
		 (uint16_t)~csum_fold(csum_add(0, buf + maclen, iplen)));
}

/* The checksum offloads of a frame that is not segmented. */
static void tx_checksums(struct igb_txframe *f, uint8_t *buf, size_t len)
{
	const struct igb_txctx *c = &f->ctx[f->ctx_idx];
	size_t maclen = (c->vlan_macip_lens >> TXCTX_MACLEN_SHIFT) & 0x7f;
	size_t iplen = c->vlan_macip_lens & TXCTX_IPLEN_MASK;
	unsigned int l4t = (c->type_tucmd >> TXCTX_L4T_SHIFT) & 3;

	if (!f->adv) {
		if (f->legacy_ic && f->cso >= f->css)
			csum_insert(buf, len, f->css, f->cso, 0, false);
		return;
	}
	if (f->ixsm && (c->type_tucmd & TXCTX_TUCMD_IPV4))
		csum_ipv4(buf, len, maclen, iplen);
	if (f->txsm && l4t == TXCTX_L4T_TCP)
		csum_insert(buf, len, maclen + iplen, maclen + iplen + 16, 0,
			    false);
	else if (f->txsm && l4t == TXCTX_L4T_UDP)
		csum_insert(buf, len, maclen + iplen, maclen + iplen + 6, 0,
			    true);
}

/*
 * Send a frame to the port: the VLAN tag inserted, padded, counted, then
 * looped back or given to the backend.  With VFs and VMDq loopback
 * (DTXSWC.LLE), a frame from a pool also goes to the other pools its
 * destination selects, and a unicast frame that one of them takes stays
 * inside the port.  @buf has FRAME_SLACK bytes of room after @len.
 */
static void tx_send(struct igb *igb, struct igb_txframe *f, uint8_t *buf,
		    size_t len, uint16_t vlan)
{
	struct ufd_pci_dev *pdev = igb->pdev;
	uint32_t local = 0;
	bool loop, to_wire = true, exact;
	size_t wire;

	if (len < 14)
		return;
	if (len > FRAME_MAX)
		len = FRAME_MAX;
	ufd_pci_lock(pdev);
	if (f->vle) {
		memmove(buf + 16, buf + 12, len - 12);
		put_be16(buf + 12, (uint16_t)plain_get(igb, REG_VET));
		put_be16(buf + 14, vlan);
		len += 4;
	}
	if ((igb->tctl & TCTL_PSP) && len < ETH_MIN_NOFCS) {
		memset(buf + len, 0, ETH_MIN_NOFCS - len);
		len = ETH_MIN_NOFCS;
	}
	wire = len + (f->ifcs ? ETH_FCS : 0);
	count_frame(igb, false, buf, wire);
	if (igb->tx_pool >= 0 && (unsigned int)igb->tx_pool < vf_count(igb)) {
		igb->vfslot[igb->tx_pool].gptc++;
		igb->vfslot[igb->tx_pool].gotc += (uint32_t)wire;
	}
	loop = ((igb->rctl >> RCTL_LBM_SHIFT) & RCTL_LBM_MASK) ==
		       RCTL_LBM_MAC ||
	       (igb->phy[PHY_BMCR] & BMCR_LOOPBACK);
	if (igb->tx_pool >= 0 && vf_count(igb) &&
	    (plain_get(igb, REG_DTXSWC) & DTXSWC_LLE)) {
		local = rx_pools(igb, buf, &exact) & ~(1u << igb->tx_pool);
		to_wire = !(local && exact);
	}
	ufd_pci_unlock(pdev);

	if (local)
		rx_frame(igb, buf, len, f->ifcs, local, to_wire);
	if (!to_wire)
		return;
	if (!loop)
		loop = igb->backend->transmit(igb, buf, len);
	if (loop)
		rx_frame(igb, buf, len, f->ifcs, 0, false);
}

/*
 * TCP segmentation (TSE): the headers (MACLEN + IPLEN + L4LEN bytes) are
 * repeated in front of each MSS bytes of payload; per segment the IPv4
 * total length and identification (or the IPv6 payload length), the TCP
 * sequence number and flags (FIN and PSH only in the last, CWR only in
 * the first), and the checksums (software seeds the TCP checksum with
 * the pseudo-header without its length; the segment's length is added).
 */
static void tx_tso(struct igb *igb, struct igb_txframe *f)
{
	const struct igb_txctx *c = &f->ctx[f->ctx_idx];
	size_t maclen = (c->vlan_macip_lens >> TXCTX_MACLEN_SHIFT) & 0x7f;
	size_t iplen = c->vlan_macip_lens & TXCTX_IPLEN_MASK;
	size_t l4len = (c->mss_l4len >> TXCTX_L4LEN_SHIFT) & 0xff;
	size_t mss = c->mss_l4len >> TXCTX_MSS_SHIFT;
	size_t hdr = maclen + iplen + l4len, l4 = maclen + iplen, off, n;
	bool ipv4 = c->type_tucmd & TXCTX_TUCMD_IPV4;
	uint16_t vlan = (uint16_t)(c->vlan_macip_lens >> 16);
	uint32_t seq, i;
	uint16_t id;
	uint8_t flags;

	if (((c->type_tucmd >> TXCTX_L4T_SHIFT) & 3) != TXCTX_L4T_TCP ||
	    l4len < 20 || iplen < 20 || hdr >= f->len || !mss) {
		/* Not something the part segments: sent as it is. */
		tx_checksums(f, f->buf, f->len);
		tx_send(igb, f, f->buf, f->len, vlan);
		return;
	}
	if (hdr + mss > FRAME_MAX)
		mss = FRAME_MAX - hdr;
	seq = (uint32_t)get_be16(f->buf + l4 + 4) << 16 |
	      get_be16(f->buf + l4 + 6);
	id = get_be16(f->buf + maclen + 4);
	flags = f->buf[l4 + 13];
	for (off = hdr, i = 0; off < f->len && !cancel_count(igb);
	     off += n, i++) {
		uint8_t *sg = igb->seg, fl = flags;
		size_t seglen;

		n = f->len - off < mss ? f->len - off : mss;
		seglen = hdr + n;
		memcpy(sg, f->buf, hdr);
		memcpy(sg + hdr, f->buf + off, n);
		if (ipv4) {
			put_be16(sg + maclen + 2,
				 (uint16_t)(iplen + l4len + n));
			put_be16(sg + maclen + 4, (uint16_t)(id + i));
			if (f->ixsm)
				csum_ipv4(sg, seglen, maclen, iplen);
		} else {
			put_be16(sg + maclen + 4,
				 (uint16_t)(iplen - 40 + l4len + n));
		}
		put_be16(sg + l4 + 4, (uint16_t)((seq + (off - hdr)) >> 16));
		put_be16(sg + l4 + 6, (uint16_t)(seq + (off - hdr)));
		if (off + n < f->len)
			fl &= (uint8_t)~0x09; /* FIN, PSH: the last only */
		if (i)
			fl &= (uint8_t)~0x80; /* CWR: the first only */
		sg[l4 + 13] = fl;
		csum_insert(sg, seglen, l4, l4 + 16, (uint32_t)(l4len + n),
			    false);
		tx_send(igb, f, sg, seglen, vlan);
	}
}

/* A whole frame gathered: its offloads, then the port. */
static void tx_frame(struct igb *igb, struct igb_txframe *f)
{
	if (f->adv && f->tse) {
		tx_tso(igb, f);
		return;
	}
	tx_checksums(f, f->buf, f->len);
	tx_send(igb, f, f->buf, f->len,
		f->adv ? (uint16_t)(f->ctx[f->ctx_idx].vlan_macip_lens >> 16) :
			 f->vlan);
}

/* Room for @more bytes in the frame being gathered, up to GATHER_MAX. */
static size_t tx_room(struct igb_txframe *f, size_t more)
{
	size_t want = f->len + more, cap;
	uint8_t *nb;

	if (want <= f->cap)
		return more;
	cap = want > GATHER_MAX ? GATHER_MAX : want;
	if (cap > f->cap) {
		nb = realloc(f->buf, cap + FRAME_SLACK);
		if (nb) {
			f->buf = nb;
			f->cap = cap;
		}
	}
	return f->cap - f->len < more ? f->cap - f->len : more;
}

struct igb_txjob {
	unsigned int q;
	uint64_t ring;
	uint32_t ndesc, fetch, n, gen;
	struct ufd_pci_dev *fn; /* whose DMA: the PF, or the queue's VF */
	int vf;			/* the queue's VF, or -1 */
	int pool;		/* the queue's pool (VMDq), or -1 */
};

/* Descriptors [0, n) of the batch with RS get DD; one DMA write. */
static int tx_writeback(struct igb *igb, const struct igb_txjob *job,
			unsigned int n, bool *any)
{
	uint8_t *b = igb->txbatch;
	unsigned int i, lo = n, hi = 0;

	for (i = 0; i < n; i++) {
		uint8_t *d = b + i * DESC_LEN;
		uint32_t cmd = get_le32(d + 8);

		if (!(cmd & TXD_CMD_RS))
			continue;
		if (cmd & TXD_CMD_DEXT) {
			/* Advanced write-back: DD in the status dword. */
			memset(d, 0, 12);
			put_le32(d + 12, TXD_STA_DD);
		} else {
			d[12] = (uint8_t)((d[12] & 0xf0) | TXD_STA_DD);
		}
		if (i < lo)
			lo = i;
		hi = i;
	}
	*any = lo < n;
	if (!*any)
		return 0;
	return ufd_pci_dma_write(
		job->fn, job->ring + (uint64_t)(job->fetch + lo) * DESC_LEN,
		b + lo * DESC_LEN, (size_t)(hi - lo + 1) * DESC_LEN);
}

/* One batch of queue job->q (busy set, lock not held). */
static void tx_run(struct igb *igb, const struct igb_txjob *job)
{
	struct ufd_pci_dev *pdev = igb->pdev, *fn = job->fn;
	struct igb_txframe *f = &igb->frame[job->q];
	struct igb_txq *tx = &igb->txq[job->q];
	unsigned int i, done = 0, whole = 0, epoch = 0;
	struct igbvf_cause vfc;
	struct igb_cause cause;
	bool fault = false, any, vf_cause, made;
	int rc;

	igb->tx_pool = job->pool;
	if (f->gen != job->gen) {
		f->open = false;
		f->gen = job->gen;
	}
	if (ufd_pci_dma_read(fn, job->ring + (uint64_t)job->fetch * DESC_LEN,
			     igb->txbatch, (size_t)job->n * DESC_LEN)) {
		fault = true;
		goto apply;
	}
	for (i = 0; i < job->n && !cancel_count(igb); i++) {
		const uint8_t *d = igb->txbatch + i * DESC_LEN;
		uint64_t addr = get_le64(d);
		uint32_t cmd = get_le32(d + 8);
		bool dext = cmd & TXD_CMD_DEXT;
		uint32_t dtyp = (cmd >> TXD_DTYP_SHIFT) & TXD_DTYP_MASK;
		size_t len = cmd & 0xffff, room;

		if (dext && dtyp != TXD_DTYP_DATA) {
			/* A context descriptor (or a reserved type): no data. */
			if (dtyp == TXD_DTYP_CONTEXT) {
				struct igb_txctx *c =
					&f->ctx[(get_le32(d + 12) >>
						 TXD_IDX_SHIFT) &
						1];

				c->vlan_macip_lens = get_le32(d);
				c->type_tucmd = cmd;
				c->mss_l4len = get_le32(d + 12);
			}
			done = i + 1;
			if (!f->open)
				whole = i + 1;
			continue;
		}
		if (!f->open) {
			uint32_t olinfo = get_le32(d + 12);

			f->open = true;
			f->len = 0;
			f->adv = dext;
			f->ifcs = false;
			f->tse = dext && (cmd & TXD_CMD_TSE);
			f->ixsm = dext && (olinfo & TXD_POPTS_IXSM);
			f->txsm = dext && (olinfo & TXD_POPTS_TXSM);
			f->ctx_idx = (olinfo >> TXD_IDX_SHIFT) & 1;
			f->legacy_ic = !dext && (cmd & TXD_CMD_IC);
			f->cso = d[10];
			f->css = d[13];
			f->vle = false;
		}
		if (cmd & TXD_CMD_VLE) {
			f->vle = true;
			f->vlan = (uint16_t)(d[14] | d[15] << 8);
		}
		room = tx_room(f, len);
		if (room < len)
			len = room; /* longer than any frame: cut */
		if (len && ufd_pci_dma_read(fn, addr, f->buf + f->len, len)) {
			fault = true;
			break;
		}
		f->len += len;
		f->ifcs |= (cmd & TXD_CMD_IFCS) != 0;
		done = i + 1;
		if (cmd & TXD_CMD_EOP) {
			tx_frame(igb, f);
			f->open = false;
			whole = i + 1;
		}
	}
	rx_flush_all(igb);
	if (fault) {
		/* Nothing of the frame that failed is written back. */
		f->open = false;
		done = whole;
	}

apply:
	any = false;
	ufd_pci_lock(pdev);
	if (cancel_count(igb) || tx->gen != job->gen) {
		ufd_pci_unlock(pdev);
		return;
	}
	memset(&cause, 0, sizeof(cause));
	memset(&vfc, 0, sizeof(vfc));
	rc = 0;
	if (done) {
		unsigned int k;

		/* Causes first, if a descriptor will be written back. */
		for (k = 0; k < done; k++)
			if (get_le32(igb->txbatch + k * DESC_LEN + 8) &
			    TXD_CMD_RS)
				break;
		vf_cause = k < done && job->vf >= 0;
		if (k < done && job->vf < 0)
			cause_begin(igb, true, job->q, &cause);
		if (vf_cause)
			epoch = igb->vfslot[job->vf].epoch;
		ufd_pci_unlock(pdev);
		if (vf_cause)
			ufd_igbvf_cause_begin(fn, vf_queue_event(job->q, true),
					      epoch, &vfc);
		rc = tx_writeback(igb, job, done, &any);
		ufd_pci_lock(pdev);
	}
	made = !rc && !fault && !cancel_count(igb) && tx->gen == job->gen;
	if (!made)
		cause_abort(igb, &cause);
	if (!cancel_count(igb) && tx->gen == job->gen) {
		if (!rc && whole)
			tx->tdh = (job->fetch + whole) % job->ndesc;
		if (rc || fault)
			tx->wedged = true;
		else
			tx->fetch = (job->fetch + job->n) % job->ndesc;
	}
	cause_end(igb, &cause);
	ufd_pci_unlock(pdev);
	ufd_igbvf_cause_end(&vfc, made);
}

/* Lock held: a transmit queue with descriptors to fetch, round robin. */
static bool tx_pick(struct igb *igb, struct igb_txjob *job)
{
	unsigned int k;

	if (!(igb->tctl & TCTL_EN))
		return false;
	/* No link, no loopback: the transmitter waits. */
	if (!mac_link(igb) &&
	    ((igb->rctl >> RCTL_LBM_SHIFT) & RCTL_LBM_MASK) != RCTL_LBM_MAC)
		return false;
	for (k = 0; k < IGB_NUM_QUEUES; k++) {
		unsigned int q = (igb->next_txq + k) % IGB_NUM_QUEUES;
		struct igb_txq *tx = &igb->txq[q];
		uint32_t ndesc = tx->len / DESC_LEN, n;
		struct ufd_pci_dev *fn;

		if (!(tx->dctl & DCTL_ENABLE) || tx->wedged || !ndesc ||
		    tx->fetch >= ndesc || tx->tdt >= ndesc ||
		    tx->fetch == tx->tdt)
			continue;
		fn = queue_fn(igb, q, true);
		if (!fn)
			continue;
		n = (tx->tdt + ndesc - tx->fetch) % ndesc;
		if (n > ndesc - tx->fetch)
			n = ndesc - tx->fetch;
		if (n > BATCH)
			n = BATCH;
		job->q = q;
		job->ring = (uint64_t)tx->bah << 32 | tx->bal;
		job->ndesc = ndesc;
		job->fetch = tx->fetch;
		job->n = n;
		job->gen = tx->gen;
		job->fn = fn;
		job->vf = queue_vf(igb, q);
		job->pool = vf_count(igb) ? (int)(q % IGB_NUM_POOLS) : -1;
		igb->next_txq = (q + 1) % IGB_NUM_QUEUES;
		return true;
	}
	return false;
}

static void *igb_worker(void *arg)
{
	struct igb *igb = arg;
	struct ufd_pci_dev *pdev = igb->pdev;
	struct igb_txjob job;

	ufd_pci_lock(pdev);
	while (!igb->quit) {
		if (!cancel_count(igb) && igb->mbx_pending) {
			unsigned int n = (unsigned int)__builtin_ctz(
				igb->mbx_pending);
			struct ufd_pci_dev *vf = pdev->vfs[n];
			unsigned int epoch = igb->vfslot[n].epoch;

			igb->mbx_pending &= ~(1u << n);
			if (!vf)
				continue;
			/* The VF's lock is taken with the PF's released. */
			igb->busy = true;
			ufd_pci_unlock(pdev);
			ufd_igbvf_event(vf, IGBVF_EV_MAILBOX, epoch);
			ufd_pci_lock(pdev);
			igb->busy = false;
			pthread_cond_broadcast(&igb->idle_cv);
			continue;
		}
		if (!cancel_count(igb) && igb->inbox.count) {
			/* A frame the backend received: to the receive path. */
			struct igb_inbox *in = &igb->inbox;
			size_t len = in->len[in->head];
			bool more;

			memcpy(igb->inframe, in->buf[in->head], len);
			in->head = (in->head + 1) % INBOX_FRAMES;
			in->count--;
			more = in->count != 0;
			igb->busy = true;
			ufd_pci_unlock(pdev);
			rx_frame(igb, igb->inframe, len, true, 0, false);
			/* Write-backs are batched: the last of a burst flushes. */
			if (!more)
				rx_flush_all(igb);
			ufd_pci_lock(pdev);
			igb->busy = false;
			pthread_cond_broadcast(&igb->idle_cv);
			continue;
		}
		if (cancel_count(igb) || !tx_pick(igb, &job)) {
			ufd_pci_wait(pdev, &igb->work_cv);
			continue;
		}
		igb->busy = true;
		ufd_pci_unlock(pdev);

		tx_run(igb, &job);

		ufd_pci_lock(pdev);
		igb->busy = false;
		pthread_cond_broadcast(&igb->idle_cv);
	}
	ufd_pci_unlock(pdev);
	return NULL;
}

/* ---- model ops ----------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6], i;
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1)
		return -EINVAL; /* a station address is unicast */
	return 0;
}

static int parse_args(struct igb *igb, const char *args)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	if (!args || !*args)
		return 0;
	copy = ufd_zalloc(strlen(args) + 1);
	if (!copy)
		return -ENOMEM;
	strcpy(copy, args);
	for (tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');

		if (!val) {
			rc = -EINVAL;
			break;
		}
		*val++ = '\0';
		if (!strcmp(tok, "mac")) {
			rc = parse_mac(val, igb->mac);
		} else if (!strcmp(tok, "backend")) {
			if (!strcmp(val, "loopback"))
				igb->backend = &backend_loopback;
			else if (!strcmp(val, "none"))
				igb->backend = &backend_none;
			else
				rc = -EINVAL;
		} else if (!strcmp(tok, "pcap") || !strcmp(tok, "tap") ||
			   !strcmp(tok, "unix")) {
			free(igb->backend_arg);
			igb->backend_arg = ufd_zalloc(strlen(val) + 1);
			if (!igb->backend_arg)
				rc = -ENOMEM;
			else
				strcpy(igb->backend_arg, val);
			igb->backend = !strcmp(tok, "pcap") ? &backend_pcap :
				       !strcmp(tok, "tap")  ? &backend_tap :
							      &backend_unix;
		} else {
			rc = -EINVAL;
		}
	}
	free(copy);
	if (!rc && igb->backend->open && !igb->backend_arg)
		rc = -EINVAL;
	return rc;
}

/* The function as the hardware presents it. */
static int build_function(struct ufd_pci_dev *pdev)
{
	int rc;

	rc = ufd_pci_add_bar(pdev, 0, IGB_BAR0_SIZE,
			     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_bar(pdev, IGB_MSIX_BAR, IGB_MSIX_BAR_SIZE,
				     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_pm_cap(pdev, 0x40);
	if (!rc)
		rc = ufd_pci_add_msi_cap(pdev, 0x50, 1);
	if (!rc)
		rc = ufd_pci_add_msix_cap(pdev, 0x70, IGB_MSIX_VECTORS,
					  IGB_MSIX_BAR, IGB_MSIX_TABLE_OFF,
					  IGB_MSIX_BAR, IGB_MSIX_PBA_OFF);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0xa0, PCI_EXP_TYPE_ENDPOINT);
	if (!rc)
		rc = ufd_pci_set_intx_pin(pdev, 1);
	if (!rc)
		rc = ufd_igb_add_sriov_cap(pdev);
	return rc;
}

static void igb_free(struct igb *igb)
{
	unsigned int q;

	if (igb->backend && igb->backend->close)
		igb->backend->close(igb);
	pthread_cond_destroy(&igb->work_cv);
	pthread_cond_destroy(&igb->idle_cv);
	for (q = 0; q < IGB_NUM_QUEUES; q++)
		free(igb->frame[q].buf);
	free(igb->seg);
	free(igb->rxcopy);
	free(igb->store);
	free(igb->backend_arg);
	free(igb);
}

static int igb_create(struct ufd_pci_dev *pdev, const char *args)
{
	static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00,
						0x12, 0x34, 0x56 };
	struct igb *igb;
	unsigned int q;
	int rc = 0;

	igb = ufd_zalloc(sizeof(*igb));
	if (!igb)
		return -ENOMEM;
	igb->pdev = pdev;
	igb->io_fd = igb->stop_fd = -1;
	memcpy(igb->mac, default_mac, 6);
	igb->backend = &backend_loopback;
	pthread_cond_init(&igb->work_cv, NULL);
	pthread_cond_init(&igb->idle_cv, NULL);
	igb->store = ufd_zalloc(IGB_BAR0_SIZE);
	if (!igb->store)
		rc = -ENOMEM;
	for (q = 0; q < IGB_NUM_QUEUES && !rc; q++) {
		igb->frame[q].buf = ufd_zalloc(FRAME_MAX + FRAME_SLACK);
		igb->frame[q].cap = FRAME_MAX;
		if (!igb->frame[q].buf)
			rc = -ENOMEM;
	}
	igb->seg = rc ? NULL : ufd_zalloc(FRAME_MAX + FRAME_SLACK);
	if (!rc && !igb->seg)
		rc = -ENOMEM;
	igb->rxcopy = rc ? NULL : ufd_zalloc(FRAME_MAX + FRAME_SLACK);
	if (!rc && !igb->rxcopy)
		rc = -ENOMEM;
	igb->tx_pool = -1;
	if (!rc)
		rc = parse_args(igb, args);
	if (!rc)
		rc = build_function(pdev);
	/*
	 * An instance with no host is made only to be looked at (its config
	 * space for sysfs): it opens no backend, which another instance, the
	 * device's own, will hold.
	 */
	if (!rc && igb->backend->open && pdev->host_ops) {
		rc = igb->backend->open(igb, igb->backend_arg);
		if (rc) /* nothing to close */
			igb->backend = &backend_none;
	}
	if (rc) {
		igb_free(igb);
		return rc;
	}
	eeprom_build(igb);
	regs_poweron(igb);
	pdev->priv = igb;
	rc = ufd_inject_fail() ?
		     EAGAIN :
		     pthread_create(&igb->worker, NULL, igb_worker, igb);
	if (rc) {
		pdev->priv = NULL;
		igb_free(igb);
		return -rc;
	}
	return 0;
}

static void igb_destroy(struct ufd_pci_dev *pdev)
{
	struct igb *igb = igb_of(pdev);

	ufd_pci_lock(pdev);
	igb->quit = true;
	__atomic_add_fetch(&igb->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&igb->work_cv);
	ufd_pci_unlock(pdev);
	pthread_join(igb->worker, NULL);
	pdev->priv = NULL;
	igb_free(igb);
}

/*
 * VF @n is about to be freed (lock held): the worker is cancelled and
 * waited for, so it holds no job and no event for that VF, and the VF's
 * queues and mailbox go back to power-on values.
 */
static void igb_vf_gone(struct ufd_pci_dev *pdev, unsigned int n)
{
	struct igb *igb = igb_of(pdev);

	if (n >= IGB_MAX_VFS)
		return;
	quiesce_begin(igb);
	vf_stop(igb, n);
	vfslot_poweron(igb, n);
	quiesce_end(igb);
}

/* FLR: everything to power-on values, the batch in hand dropped. */
static void igb_reset(struct ufd_pci_dev *pdev)
{
	device_reset(igb_of(pdev));
}

const struct ufd_pci_model ufd_pci_model_igb = {
	.name = "igb",
	.description = "Intel 82576 Gigabit Ethernet (igb) physical function, "
		       "internal PHY, SR-IOV; loopback, pcap, tap or unix "
		       "backend",
	.vendor_id = 0x8086,
	.device_id = 0x10c9,
	.subsystem_vendor_id = 0x8086,
	.subsystem_id = 0xa03c,
	.class_code = 0x020000,
	.revision = 0x01,
	.create = igb_create,
	.destroy = igb_destroy,
	.reset = igb_reset,
	.bar_read = igb_bar_read,
	.bar_write = igb_bar_write,
	.vf_gone = igb_vf_gone,
};
