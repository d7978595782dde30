/* SPDX-License-Identifier: MIT */
/*
 * The library's version.  The Makefile passes its VERSION split into
 * UFD_MK_VERSION_MAJOR/MINOR; the header's UFD_VERSION_MAJOR/MINOR must
 * agree with it, or the build fails here.
 */
#include "uiommufd.h"

#if defined(UFD_MK_VERSION_MAJOR) && defined(UFD_MK_VERSION_MINOR)
_Static_assert(UFD_MK_VERSION_MAJOR == UFD_VERSION_MAJOR,
	       "include/uiommufd.h UFD_VERSION_MAJOR differs from the Makefile's VERSION");
_Static_assert(UFD_MK_VERSION_MINOR == UFD_VERSION_MINOR,
	       "include/uiommufd.h UFD_VERSION_MINOR differs from the Makefile's VERSION");
#endif

int ufd_version_major(void)
{
	return UFD_VERSION_MAJOR;
}

int ufd_version_minor(void)
{
	return UFD_VERSION_MINOR;
}

bool ufd_check_version(int major, int minor)
{
	return major == UFD_VERSION_MAJOR && minor <= UFD_VERSION_MINOR;
}
