/* SPDX-License-Identifier: MIT */
/*
 * Between the 82576 physical function model (igb.c) and its virtual
 * functions (igbvf.c): what one calls of the other.  Internal to the two.
 *
 * What lives where.  The PF model owns everything the 82576 keeps in the
 * PF's silicon for a VF: the mailbox (buffer, ownership and strobe bits,
 * MBVFICR, VFLRE), the VF's queue pair (PF queues n and n + 8: pool n)
 * and the datapath that serves it.  All of it is under the PF's lock.
 * The VF model owns its interrupt registers (VTEICR, VTEIMS, VTIVAR, ...)
 * and its MSI-X, under the VF's lock.
 *
 * Lock order: a VF's lock, then the PF's lock, never the other way.  The
 * VF's register handlers (VF lock held) call ufd_igb_vf_read/write/reset,
 * which take the PF's lock, and may raise the PF's interrupts (sent when
 * that lock is released).  The PF never takes a VF's lock while holding
 * its own: what the PF owes a VF (a mailbox interrupt, a queue cause) is
 * handed to the PF's worker thread, which calls ufd_igbvf_event() holding
 * no lock at all.  The worker is "busy" meanwhile, and a VF is freed only
 * after the PF has cancelled and waited for its worker (the model's
 * vf_gone op), so the VF it calls is alive.
 */
#ifndef UFD_DEVICES_IGB_VF_H
#define UFD_DEVICES_IGB_VF_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"

/* V2PMAILBOX bits (the VF's view of its mailbox). */
#define IGB_V2P_REQ (1u << 0)	/* VF -> PF: a message (strobe) */
#define IGB_V2P_ACK (1u << 1)	/* VF -> PF: message taken (strobe) */
#define IGB_V2P_VFU (1u << 2)	/* the VF holds the buffer */
#define IGB_V2P_PFU (1u << 3)	/* the PF holds the buffer (read only) */
#define IGB_V2P_PFSTS (1u << 4) /* PF -> VF: a message (read clears) */
#define IGB_V2P_PFACK (1u << 5) /* PF -> VF: message taken (read clears) */
#define IGB_V2P_RSTI (1u << 6)	/* the PF is resetting */
#define IGB_V2P_RSTD (1u << 7)	/* the VF's reset is done (read clears) */

/* The VF's register offsets the PF serves (VF BAR0). */
#define IGBVF_VTSTATUS 0x0008
#define IGBVF_VMBMEM 0x0800 /* 16 dwords */
#define IGBVF_V2PMAILBOX 0x0c40
#define IGBVF_RXQ0 0x2800 /* queue i's block at + 0x100 i, i = 0, 1 */
#define IGBVF_TXQ0 0x3800

/* What ufd_igbvf_event() reports. */
enum {
	IGBVF_EV_MAILBOX = 1u << 0,
	IGBVF_EV_RX0 = 1u << 1, /* VF queue 0's receive; RX1: queue 1's */
	IGBVF_EV_TX0 = 1u << 2,
	IGBVF_EV_RX1 = 1u << 3,
	IGBVF_EV_TX1 = 1u << 4,
};

/*
 * igb.c, called by VF @vf of @pf with the VF's lock held (they take the
 * PF's).  read/write: false if @off is not a register the PF serves
 * (nothing done).  reset: the VF's side of a VF reset (VTCTRL.RST or
 * FLR): its queues stopped and back to power-on values, its mailbox
 * bits to RSTD, VFLRE set, VFRE and VFTE cleared, the PF told.
 */
bool ufd_igb_vf_read(struct ufd_pci_dev *pf, unsigned int vf, uint32_t off,
		     bool side_effects, uint32_t *val);
bool ufd_igb_vf_write(struct ufd_pci_dev *pf, unsigned int vf, uint32_t off,
		      uint32_t val);
void ufd_igb_vf_reset(struct ufd_pci_dev *pf, unsigned int vf);
/* The VF's reset count, which an event carries (takes the PF's lock). */
unsigned int ufd_igb_vf_epoch(struct ufd_pci_dev *pf, unsigned int vf);

/*
 * igbvf.c, called by the PF's worker with no lock held.
 *
 * event: @events happened for @vf (its causes set, its vectors sent as
 * VTEIMS allows), unless the VF was reset since @epoch.
 *
 * cause_begin/cause_end: a queue's write-back for the VF is about to be
 * made: its causes are set now but held back (not sent, not readable in
 * VTEICR) until cause_end(), which sends them if @made, or takes back
 * those it set if not; as the PF does with its own causes, so no
 * interrupt comes before what it reports is visible, and none after a
 * driver that saw the write-back cleared the cause.  Nothing is set if
 * the VF was reset since @epoch; a VF reset in between forgets them.
 */
struct igbvf_cause {
	struct ufd_pci_dev *vf;	 /* NULL: nothing was set */
	uint32_t set, fresh;	 /* the causes, those that were clear */
	unsigned int resets;	 /* the VF's reset count at begin */
};

void ufd_igbvf_event(struct ufd_pci_dev *vf, unsigned int events,
		     unsigned int epoch);
void ufd_igbvf_cause_begin(struct ufd_pci_dev *vf, unsigned int events,
			   unsigned int epoch, struct igbvf_cause *c);
void ufd_igbvf_cause_end(struct igbvf_cause *c, bool made);

#endif
