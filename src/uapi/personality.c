/* SPDX-License-Identifier: MIT */
/*
 * Kernel personalities: which Linux the dispatch layer behaves as
 * (uiommufd-run --kernel=6.12|7.3).  Every place where the two kernels
 * answer a program differently is a field of struct ufd_personality, set
 * here and nowhere else; the handlers read the field, never a version
 * number.  Commands and selftest operations that one kernel lacks are
 * gated by their table row's `since` (the first personality that has
 * them), so under 6.12 the post-6.12 commands answer ENOTTY and the
 * post-6.12 test operations EOPNOTSUPP, as 6.12 does.  docs/kernels.md
 * lists the differences.
 *
 * The personalities are constant tables: no locking.
 */
#include <errno.h>
#include <string.h>

#include "uapi/dispatch.h"

const struct ufd_personality ufd_personality_6_12 = {
	.name = "6.12",
	.kernel = UFD_KERNEL_6_12,
	.invalidate_paging_errno = -ENOENT,
	.mock_huge_iova_flag = true,
	.mock_iommupt = false,
	.iommufd_mmap = false,
	.pasid = false,
};

const struct ufd_personality ufd_personality_7_3 = {
	.name = "7.3",
	.kernel = UFD_KERNEL_7_3,
	.invalidate_paging_errno = -EINVAL,
	.mock_huge_iova_flag = false,
	.mock_iommupt = true,
	.iommufd_mmap = true,
	.pasid = true,
};

static const struct ufd_personality *const personalities[] = {
	&ufd_personality_6_12,
	&ufd_personality_7_3,
};

const struct ufd_personality *ufd_personality_find(const char *name)
{
	size_t i;

	if (!name || !*name)
		return ufd_personality_newest();
	for (i = 0; i != sizeof(personalities) / sizeof(personalities[0]); i++)
		if (!strcmp(personalities[i]->name, name))
			return personalities[i];
	return NULL;
}

const struct ufd_personality *ufd_personality_at(unsigned int i)
{
	if (i >= sizeof(personalities) / sizeof(personalities[0]))
		return NULL;
	return personalities[i];
}

const struct ufd_personality *ufd_personality_newest(void)
{
	return &ufd_personality_7_3;
}
