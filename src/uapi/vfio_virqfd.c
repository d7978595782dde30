// SPDX-License-Identifier: MIT
/*
 * Eventfds the program signals towards a device, vfio's "virqfd"s: the
 * INTx unmask eventfd (SET_IRQS with ACTION_UNMASK and DATA_EVENTFD) and
 * ioeventfds (VFIO_DEVICE_IOEVENTFD: a signal writes a value into a BAR).
 *
 * The model.  Each registration is an eventfd of ours (taken from the
 * caller), a device and what a signal does.  One thread, started with
 * the first registration, waits on all of them with epoll
 * (level-triggered, so a signal given before the registration counts, as
 * vfio_virqfd_enable() checks for one); on a signal it takes the count
 * (without blocking: the program may have read it first) and acts.
 * The thread belongs to the process (there is one machine); teardown
 * stops it.
 * Registrations have IDs that are never reused, so an event that arrives
 * for one just removed finds nothing.
 *
 * An ioeventfd writes [pos, pos + size - 1] of its BAR.
 *
 * Locking: virq_lock guards the list and is held while an action runs;
 * removing a registration takes it, so once removed, its action is over
 * and will not run again.  Callers hold vdev->lock (never irq_lock: the
 * unmask action takes irq_lock and the model's lock under virq_lock).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uapi/vfio_priv.h"

struct vfio_virqfd {
	struct vfio_virqfd *next;
	uint64_t id;
	int efd;
	struct vfio_dev *vdev;
	enum vfio_virqfd_kind kind;
	unsigned int bar;  /* an ioeventfd's write: */
	uint64_t pos;
	unsigned int size;
	uint64_t data;
};

static pthread_mutex_t virq_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfio_virqfd *virqs;     /* virq_lock */
static uint64_t virq_next_id = 1;     /* virq_lock; 0 is the stop signal */
static int virq_epfd = -1, virq_stop = -1;
static bool virq_quit;
static bool virq_running;
static pthread_t virq_thread;

/* Take the eventfd's count if there is one; never blocks. */
static bool take_count(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t count;
	struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };
	ssize_t n;

	n = preadv2(efd, &iov, 1, -1, RWF_NOWAIT);
	if (n == sizeof(count))
		return true;
	if (n < 0 && errno == EAGAIN)
		return false;
	/* No RWF_NOWAIT for this file: look first (racy, but only with the
	 * program reading its own eventfd). */
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return false;
	return read(efd, &count, sizeof(count)) == sizeof(count);
}

static void act(struct vfio_virqfd *v)
{
	struct vfio_dev *vdev = v->vdev;

	switch (v->kind) {
	case VFIO_VIRQFD_INTX_UNMASK:
		vfio_irq_intx_unmask(vdev);
		break;
	case VFIO_VIRQFD_IOEVENTFD:
		/* vfio_pci_ioeventfd_handler: only with memory decode on. */
		if (vfio_dev_memory_enabled(vdev))
			ufd_pci_bar_write(vdev->pdev, v->bar, v->pos, v->size,
					  v->data);
		break;
	}
}

static void *virq_main(void *arg)
{
	struct epoll_event evs[16];

	(void)arg;
	for (;;) {
		int n = epoll_wait(virq_epfd, evs, 16, -1), i;

		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&virq_lock);
		if (virq_quit) {
			pthread_mutex_unlock(&virq_lock);
			break;
		}
		for (i = 0; i < n; i++) {
			struct vfio_virqfd *v;

			for (v = virqs; v && v->id != evs[i].data.u64;)
				v = v->next;
			if (v && take_count(v->efd))
				act(v);
		}
		pthread_mutex_unlock(&virq_lock);
	}
	return NULL;
}

/* virq_lock held. */
static int virq_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	sigset_t all, old_mask;
	int rc;

	if (virq_running)
		return 0;
	virq_epfd = epoll_create1(EPOLL_CLOEXEC);
	virq_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (virq_epfd < 0 || virq_stop < 0 ||
	    epoll_ctl(virq_epfd, EPOLL_CTL_ADD, virq_stop, &ev)) {
		rc = -errno;
		goto fail;
	}
	virq_quit = false;
	/* Never a signal of the process on this thread (vfio_platform.c). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old_mask);
	rc = -pthread_create(&virq_thread, NULL, virq_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (rc)
		goto fail;
	virq_running = true;
	return 0;
fail:
	if (virq_epfd >= 0)
		close(virq_epfd);
	if (virq_stop >= 0)
		close(virq_stop);
	virq_epfd = virq_stop = -1;
	return rc ? rc : -ENOMEM;
}

int vfio_virqfd_add(struct vfio_dev *vdev, enum vfio_virqfd_kind kind,
		    int efd, unsigned int bar, uint64_t pos, unsigned int size,
		    uint64_t data, uint64_t *id)
{
	struct vfio_virqfd *v = calloc(1, sizeof(*v));
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&virq_lock);
	rc = virq_start();
	if (!rc) {
		v->id = virq_next_id++;
		v->efd = efd;
		v->vdev = vdev;
		v->kind = kind;
		v->bar = bar;
		v->pos = pos;
		v->size = size;
		v->data = data;
		ev.data.u64 = v->id;
		if (epoll_ctl(virq_epfd, EPOLL_CTL_ADD, efd, &ev))
			rc = -errno;
	}
	if (!rc) {
		v->next = virqs;
		virqs = v;
		*id = v->id;
	}
	pthread_mutex_unlock(&virq_lock);
	if (rc)
		free(v);
	return rc;
}

/* Unlink and close @v (virq_lock held). */
static void virq_remove_locked(struct vfio_virqfd **link)
{
	struct vfio_virqfd *v = *link;

	*link = v->next;
	epoll_ctl(virq_epfd, EPOLL_CTL_DEL, v->efd, NULL);
	close(v->efd);
	free(v);
}

void vfio_virqfd_remove(uint64_t id)
{
	struct vfio_virqfd **link;

	if (!id)
		return;
	pthread_mutex_lock(&virq_lock);
	for (link = &virqs; *link; link = &(*link)->next)
		if ((*link)->id == id) {
			virq_remove_locked(link);
			break;
		}
	pthread_mutex_unlock(&virq_lock);
}

int vfio_virqfd_find_ioeventfd(struct vfio_dev *vdev, unsigned int bar,
			       uint64_t pos, unsigned int size, uint64_t data,
			       uint64_t *id, unsigned int *count)
{
	struct vfio_virqfd *v;
	int found = 0;

	*count = 0;
	pthread_mutex_lock(&virq_lock);
	for (v = virqs; v; v = v->next) {
		if (v->vdev != vdev || v->kind != VFIO_VIRQFD_IOEVENTFD)
			continue;
		++*count;
		if (v->bar == bar && v->pos == pos && v->size == size &&
		    v->data == data) {
			*id = v->id;
			found = 1;
		}
	}
	pthread_mutex_unlock(&virq_lock);
	return found;
}

void vfio_virqfd_remove_dev(struct vfio_dev *vdev)
{
	struct vfio_virqfd **link;

	pthread_mutex_lock(&virq_lock);
	for (link = &virqs; *link;) {
		if ((*link)->vdev == vdev)
			virq_remove_locked(link);
		else
			link = &(*link)->next;
	}
	pthread_mutex_unlock(&virq_lock);
}

void vfio_virqfd_stop(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&virq_lock);
	if (!virq_running) {
		pthread_mutex_unlock(&virq_lock);
		return;
	}
	virq_quit = true;
	while (virqs)
		virq_remove_locked(&virqs);
	if (write(virq_stop, &one, sizeof(one)) < 0) {
		/* a full counter wakes the thread as well */
	}
	pthread_mutex_unlock(&virq_lock);
	pthread_join(virq_thread, NULL);
	pthread_mutex_lock(&virq_lock);
	close(virq_epfd);
	close(virq_stop);
	virq_epfd = virq_stop = -1;
	virq_running = false;
	pthread_mutex_unlock(&virq_lock);
}
