/* SPDX-License-Identifier: MIT */
/*
 * IO windows (io_window.c): fake host addresses for memory sources that
 * have no memory (a device BAR mapped for peer-to-peer DMA).  Internal to
 * the library: the engine's DMA path and the VFIO layer's BAR source use
 * it; embedders do not see it yet.  Locking: see io_window.c.
 */
#ifndef UFD_ENGINE_IO_WINDOW_H
#define UFD_ENGINE_IO_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An IO window: a range of fake host addresses that a source without
 * memory (a device BAR) hands out from pin.  Its IOPTEs are marked
 * indirect (the source's host_direct says no), and the DMA path
 * (ufd_dma_read/write) sends an access that lands in a window to
 * ops->rw at the offset in the window, in pieces that never cross a
 * leaf.  The window is reference counted: rw may still be running, for
 * a DMA that looked the window up before ufd_io_window_remove(), after
 * remove returned; ops->free(priv) runs when the last user is gone.
 * ops->rw is called with no engine lock held (see dma.c).  Internal for
 * now (the VFIO layer's BAR source uses it); not exported.
 */
struct ufd_io_window;
struct ufd_io_window_ops {
	int (*rw)(void *priv, uint64_t off, void *buf, size_t len,
		  bool write);
	void (*free)(void *priv);
};

/* A window of @len bytes (rounded up to pages); *@host_base gets its
 * first fake host address (2 MiB aligned).  -ENOMEM, -EINVAL (len 0). */
int ufd_io_window_add(uint64_t len,
		      const struct ufd_io_window_ops *ops, void *priv,
		      struct ufd_io_window **out, uint64_t *host_base);
/* No new DMA finds the window; its free runs after the last one. */
void ufd_io_window_remove(struct ufd_io_window *w);

#endif
