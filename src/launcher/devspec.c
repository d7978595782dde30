// SPDX-License-Identifier: MIT
/*
 * Parsing and completing the launcher's --device options (devspec.h), and
 * what each device shows in sysfs: an instance of its model is made (with
 * no host: no DMA, no interrupts) to read its power-on config space and
 * BARs, and destroyed again.  No locking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "launcher/devspec.h"

/* Canonical "DDDD:BB:DD.F"; a short "BB:DD.F" gets domain 0. */
static bool parse_bdf(const char *in, char *out, size_t size)
{
	unsigned int dom = 0, bus, dev, fn;
	char tail;

	if (sscanf(in, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4) {
		dom = 0;
		if (sscanf(in, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
			return false;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return false;
	snprintf(out, size, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return true;
}

bool ufd_devspec_add(struct ufd_devspecs *s, const char *arg, char *err,
		     size_t errlen)
{
	struct ufd_devspec *d;
	char buf[512], *tok, *save = NULL;
	size_t args_len = 0;

	if (s->n == UFD_MAX_DEVICES) {
		snprintf(err, errlen, "at most %d devices", UFD_MAX_DEVICES);
		return false;
	}
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "device option too long");
		return false;
	}
	strcpy(buf, arg);
	d = &s->dev[s->n];
	memset(d, 0, sizeof(*d));
	d->group = -1;
	tok = strtok_r(buf, ",", &save);
	if (!tok || !ufd_pci_model_find(tok) ||
	    strlen(tok) >= sizeof(d->model)) {
		snprintf(err, errlen,
			 "unknown device model '%s' (uiommufd devices lists "
			 "them)", tok ? tok : "");
		return false;
	}
	strcpy(d->model, tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "bdf=", 4)) {
			if (!parse_bdf(tok + 4, d->bdf, sizeof(d->bdf))) {
				snprintf(err, errlen,
					 "bad PCI address '%s' (DDDD:BB:DD.F)",
					 tok + 4);
				return false;
			}
		} else if (!strncmp(tok, "group=", 6)) {
			char *end;
			long g = strtol(tok + 6, &end, 10);

			if (end == tok + 6 || *end || g < 0 || g > 65535) {
				snprintf(err, errlen, "bad IOMMU group '%s'",
					 tok + 6);
				return false;
			}
			d->group = (int)g;
		} else {
			size_t n = strlen(tok);

			if (args_len + n + 2 > sizeof(d->args)) {
				snprintf(err, errlen, "device arguments too long");
				return false;
			}
			if (args_len)
				d->args[args_len++] = ',';
			memcpy(d->args + args_len, tok, n + 1);
			args_len += n;
		}
	}
	s->n++;
	return true;
}

static bool bdf_taken(const struct ufd_devspecs *s, const char *bdf,
		      unsigned int except)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (i != except && !strcmp(s->dev[i].bdf, bdf))
			return true;
	return false;
}

static bool group_taken(const struct ufd_devspecs *s, int group)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->dev[i].group == group)
			return true;
	return false;
}

bool ufd_devspec_finish(struct ufd_devspecs *s, char *err, size_t errlen)
{
	unsigned int i, slot = 4;

	for (i = 0; i < s->n; i++) {
		if (s->dev[i].bdf[0] && bdf_taken(s, s->dev[i].bdf, i)) {
			snprintf(err, errlen, "PCI address %s given twice",
				 s->dev[i].bdf);
			return false;
		}
	}
	for (i = 0; i < s->n; i++) {
		struct ufd_devspec *d = &s->dev[i];

		while (!d->bdf[0]) {
			char bdf[16];

			if (slot > 0x1f) {
				snprintf(err, errlen, "no free PCI address");
				return false;
			}
			snprintf(bdf, sizeof(bdf), "0000:00:%02x.0", slot++);
			if (!bdf_taken(s, bdf, i))
				strcpy(d->bdf, bdf);
		}
		d->cdev = i;
	}
	for (i = 0; i < s->n; i++) {
		int g = 0;

		if (s->dev[i].group >= 0)
			continue;
		while (group_taken(s, g))
			g++;
		s->dev[i].group = g;
	}
	return true;
}

char *ufd_devspec_bdfs(const struct ufd_devspecs *s)
{
	char *out = calloc(s->n ? s->n : 1, 16);
	unsigned int i;

	if (!out)
		return NULL;
	for (i = 0; i < s->n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, s->dev[i].bdf);
	}
	return out;
}

char *ufd_devspec_encode(const struct ufd_devspecs *s)
{
	size_t size = (size_t)s->n * 352 + 1;
	char *out = calloc(1, size);
	size_t off = 0;
	unsigned int i;

	if (!out)
		return NULL;
	for (i = 0; i < s->n; i++) {
		const struct ufd_devspec *d = &s->dev[i];

		off += (size_t)snprintf(out + off, size - off, "%s%s;%s;%d;%u;%s",
					i ? "|" : "", d->model, d->bdf,
					d->group, d->cdev, d->args);
	}
	return out;
}

void ufd_devspec_describe(struct ufd_pci_dev *pdev, const char *bdf,
			  unsigned int group, unsigned int cdev,
			  uint64_t addr_top, struct ufd_testbed_dev *out)
{
	struct ufd_pci_dev_info info;
	unsigned int off, bar;
	uint64_t addr = addr_top;

	memset(out, 0, sizeof(*out));
	ufd_pci_dev_info(pdev, &info);
	snprintf(out->bdf, sizeof(out->bdf), "%s", bdf);
	out->group = group;
	out->cdev = cdev;
	out->vendor = info.vendor_id;
	out->device = info.device_id;
	out->subsystem_vendor = info.subsystem_vendor_id;
	out->subsystem_device = info.subsystem_id;
	out->class_code = info.class_code;
	out->revision = info.revision;
	out->sriov_total_vfs = info.sriov_total_vfs;
	out->sriov_offset = info.sriov_first_vf_offset;
	out->sriov_stride = info.sriov_vf_stride;
	out->sriov_vf_device = info.sriov_vf_device_id;
	for (off = 0; off < sizeof(out->config); off += 4) {
		uint32_t v = 0;

		ufd_pci_cfg_read(pdev, off, 4, &v);
		memcpy(out->config + off, &v, 4);
	}
	/* Addresses as a BIOS would assign them: each BAR aligned down. */
	for (bar = 0; bar < UFD_TESTBED_MAX_BARS && bar < UFD_PCI_NUM_BARS;
	     bar++) {
		uint64_t size = info.bar[bar].size;

		if (!size)
			continue;
		addr = (addr - size) & ~(size - 1);
		out->bar[bar].start = addr;
		out->bar[bar].size = size;
		/* IORESOURCE_MEM, and _PREFETCH / _MEM_64 as the BAR says. */
		out->bar[bar].flags = 0x00040200 |
			(info.bar[bar].flags & UFD_PCI_BAR_PREFETCH ? 0x2000 : 0) |
			(info.bar[bar].flags & UFD_PCI_BAR_MEM64 ? 0x00100000 : 0);
	}
}

int ufd_devspec_testbed(const struct ufd_devspecs *s, unsigned int i,
			struct ufd_testbed_dev *out)
{
	const struct ufd_devspec *d = &s->dev[i];
	const struct ufd_pci_model *model = ufd_pci_model_find(d->model);
	struct ufd_pci_dev *pdev;
	int rc;

	if (!model)
		return -ENODEV;
	rc = ufd_pci_dev_create(model, d->args, NULL, NULL, &pdev);
	if (rc)
		return rc;
	ufd_devspec_describe(pdev, d->bdf, (unsigned int)d->group, d->cdev,
			     0xfe000000ULL - (uint64_t)i * 0x01000000ULL, out);
	ufd_pci_dev_destroy(pdev);
	return 0;
}
