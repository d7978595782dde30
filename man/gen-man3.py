#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# gen-man3.py: writes man/man3/: one page per group of public functions of
# include/uiommufd.h (SYNOPSIS taken from the header) and a .so alias page
# for every other function.  Run it after changing the API; commit the result.
import re, os
TOP=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H=open(os.path.join(TOP,'include/uiommufd.h')).read()
# prototypes
protos={}
for m in re.finditer(r'^UFD_API ([^;]*?\b(ufd_[a-z0-9_]+)\([^;]*\));', H, re.M|re.S):
    p=re.sub(r'\s+',' ',m.group(1)).replace('( ','(')
    protos[m.group(2)]=p
OUT=os.path.join(TOP,'man/man3')
DATE='2026-12-01'
def esc(s): return s.replace('\\','\\\\').replace('-','\\-')
pages=[]
def page(name, title, funcs, desc, ret, extra_see=(), notes=''):
    pages.append((name,title,funcs,desc,ret,extra_see,notes))

def fb(f): return '.BR %s ()'%f

page('ufd_version','version of the uiommufd library',
 ['ufd_version_major','ufd_version_minor','ufd_check_version'],
r'''The header defines
.B UFD_VERSION_MAJOR
and
.B UFD_VERSION_MINOR
(the version of the headers the program was compiled with, the
.I VERSION
of uiommufd's Makefile) and the macro
.BR UFD_CHECK_VERSION ( major ", " minor ),
true if the headers are version
.IR major . minor
or a later version of the same major version.
.PP
.BR ufd_version_major ()
and
.BR ufd_version_minor ()
return the version of the library the program runs with.
.BR ufd_check_version ()
is true if that library is version
.IR major . minor
or a later version of the same major version (note: the opposite
truth value of liburing's
.BR io_uring_check_version ()).''',
r'''.BR ufd_version_major ()
and
.BR ufd_version_minor ()
return the library's major and minor version; they cannot fail.
.BR ufd_check_version ()
returns
.B true
or
.BR false ;
it cannot fail.''')

page('ufd_engine','engines, contexts, objects and accounting',
 ['ufd_cred_self','ufd_engine_new','ufd_engine_free','ufd_engine_default',
  'ufd_ctx_open','ufd_ctx_close','ufd_ctx_engine','ufd_ctx_get','ufd_ctx_put',
  'ufd_obj_kind','ufd_destroy','ufd_ctx_set_rlimit_mode','ufd_ctx_get_rlimit_mode',
  'ufd_ctx_get_compat_ioas','ufd_ctx_set_compat_ioas','ufd_ctx_clear_compat_ioas',
  'ufd_engine_page_pins','ufd_engine_pinned_bytes_user','ufd_engine_pinned_bytes_pid',
  'ufd_engine_check'],
r'''An
.I engine
holds what is process- or daemon-wide: the registry of pinned pages and the
accounting of pinned memory against RLIMIT_MEMLOCK.
.BR ufd_engine_new ()
makes one,
.BR ufd_engine_free ()
frees it (all its contexts must be closed), and
.BR ufd_engine_default ()
returns the process's default engine, made on first use.
.PP
A
.I context
is one open of /dev/iommu: an object table.
.BR ufd_ctx_open ()
opens one in
.I eng
as an
.BR open (2)
by the task described by
.I cred
would;
.BR ufd_cred_self ()
fills
.I cred
from the calling process.
.BR ufd_ctx_close ()
drops the reference
.BR ufd_ctx_open ()
returned; when the last reference goes (see
.BR ufd_ctx_get ()
and
.BR ufd_ctx_put ()),
every object is destroyed and every pin released before it returns.
.BR ufd_ctx_engine ()
returns the engine of a context.
.PP
Objects are named by 32-bit IDs, never 0.
.BR ufd_obj_kind ()
tells what
.I id
names
.RB ( UFD_KIND_NONE
if nothing).
.BR ufd_destroy ()
is IOMMU_DESTROY.
.PP
.BR ufd_ctx_set_rlimit_mode ()
and
.BR ufd_ctx_get_rlimit_mode ()
are IOMMU_OPTION_RLIMIT_MODE (0: pinned memory charged per user, 1: per
process).
.BR ufd_ctx_get_compat_ioas (),
.BR ufd_ctx_set_compat_ioas ()
and
.BR ufd_ctx_clear_compat_ioas ()
are IOMMU_VFIO_IOAS: the IOAS that VFIO type1 calls use.
.PP
Inspection:
.BR ufd_engine_page_pins ()
stores in
.I *pins
the number of pins on the page at
.I uaddr
of
.I src
(the selftest's MD_CHECK_REFS);
.BR ufd_engine_pinned_bytes_user ()
and
.BR ufd_engine_pinned_bytes_pid ()
return the bytes pinned and charged to a user or a process;
.BR ufd_engine_check ()
checks every internal invariant of the engine (for tests and fuzzing).''',
r'''.BR ufd_engine_new ()
returns NULL if memory runs out;
.BR ufd_engine_default ()
returns NULL if it cannot make the engine.
.BR ufd_ctx_engine ()
returns the engine.
.BR ufd_obj_kind ()
returns the kind,
.B UFD_KIND_NONE
for an unused ID.
.BR ufd_engine_pinned_bytes_user ()
and
.BR ufd_engine_pinned_bytes_pid ()
return a byte count.
The functions returning
.B int
return 0 on success or a negative errno:
.TP
.BR ufd_ctx_open ()
.B \-ENOMEM
(no memory for the context).
.TP
.BR ufd_destroy ()
.B \-ENOENT
.RI ( id
names no destroyable object),
.B \-EBUSY
(something still uses it: an attached device, a held fault queue fd, ...).
.TP
.BR ufd_ctx_set_rlimit_mode ()
.B \-EPERM
.RI ( cred
lacks cap_sys_resource),
.B \-EINVAL
.RI ( mode
other than 0 or 1),
.B \-EBUSY
(the context already has objects).
.TP
.BR ufd_ctx_get_rlimit_mode ()
always 0.
.TP
.BR ufd_ctx_get_compat_ioas ()
.B \-ENODEV
(no compat IOAS set).
.TP
.BR ufd_ctx_set_compat_ioas ()
.B \-ENOENT
.RI ( ioas_id
names no IOAS).
.TP
.BR ufd_engine_page_pins ()
0; a page the engine never pinned has 0 pins.
.TP
.BR ufd_engine_check ()
.B \-EUCLEAN
(an invariant is broken; what is wrong is printed on stderr).''')

page('ufd_source','memory sources',
 ['ufd_source_local','ufd_source_local_trusted','ufd_source_get','ufd_source_put'],
r'''A
.B struct ufd_source
is an address space the engine reads, writes and pins through
.BR "struct ufd_source_ops" :
this process, another process, a memfd.  The engine never dereferences an
address of the program it models; it reaches memory only through a source.
An embedder may define its own source by filling in
.B struct ufd_source
(ops, refs 1, space_id, owner_pid); the ops are documented in
.IR <uiommufd.h> .
.PP
.BR ufd_source_local ()
returns a source for this process's own memory; pins check that the
memory is mapped (\-EFAULT otherwise).
.BR ufd_source_local_trusted ()
returns one for an embedder that guarantees that whatever it maps into an
IOAS stays mapped and accessible while mapped there (guest RAM of an
emulator, a DMA pool): pins make no system call, reads and writes are plain
copies, and a broken promise is a crash, not \-EFAULT.
.PP
Both are returned with a reference held;
.BR ufd_source_get ()
takes another,
.BR ufd_source_put ()
drops one and calls the source's
.B release
op with the last.  Mapping a source into an IOAS takes its own reference.''',
r'''.BR ufd_source_local ()
and
.BR ufd_source_local_trusted ()
return the source, or NULL if memory runs out.
.BR ufd_source_get ()
and
.BR ufd_source_put ()
return nothing.''')

page('ufd_source_file','file-backed memory: map a file, move its accounting',
 ['ufd_source_file','ufd_source_file_revoke','ufd_source_file_revoked',
  'ufd_ioas_map_file','ufd_ctx_change_process','ufd_engine_vm_pinned_bytes',
  'ufd_engine_host_ident'],
r'''.BR ufd_source_file ()
makes a source of bytes
.RI [ start ", " start " + " length )
of the open file
.I fd
(a memfd, a tmpfs or hugetlbfs file) whose addresses are file offsets.
The calling process maps the range itself (MAP_SHARED), so the memory stays
reachable whatever happens to
.I fd
or to the program's own mappings of the file; the mapping is the pin, and
is dropped with the last reference.
.I fd
is not kept.
.PP
.BR ufd_source_file_revoke ()
revokes (or restores) a file source's memory, as a dma-buf exporter does:
while revoked, DMA through the IO page tables of
.I eng
that map it faults, and
.BR ufd_ioas_map_file ()
of it fails with \-ENODEV; restoring makes DMA work again.
.BR ufd_source_file_revoked ()
tells the state.
.PP
.BR ufd_ioas_map_file ()
is IOMMU_IOAS_MAP_FILE:
.BR ufd_ioas_map ()
of a file source, with the pinned pages charged to
.I cred
(the calling process) rather than to the opener of the context.
.BR ufd_ctx_change_process ()
is IOMMU_IOAS_CHANGE_PROCESS: every page pinned for a mapping of
.I ctx
is charged from now on to the process and user of
.IR cred .
.PP
.BR ufd_engine_vm_pinned_bytes ()
returns the bytes pinned on behalf of a process in any accounting mode
that charges (the kernel's VmPin).
.BR ufd_engine_host_ident ()
asks the source of the pages object pinned at engine address
.I host
for the identity of that page.''',
r'''.BR ufd_source_file ()
returns 0 and a source with one reference, \-EINVAL for an empty range, one
past the end of the file or a file that cannot be mapped, \-EACCES for a
writable source of a read-only open, \-EBADF, or \-ENOMEM.
.BR ufd_ioas_map_file ()
returns what
.BR ufd_ioas_map ()
returns, \-EINVAL for a source that is not a file's, \-ENODEV for a revoked one.
.BR ufd_ctx_change_process ()
returns 0, \-EINVAL if a mapping is not of a file source, or \-ENOMEM
(the new owner's RLIMIT_MEMLOCK); nothing changes on failure.
.BR ufd_source_file_revoke ()
returns 0, or \-ENOMEM if an IO page table could not be remade (that area
then stays unmapped in that domain).
.BR ufd_engine_host_ident ()
returns 0 or \-ENOENT (no pinned pages there).''')

page('ufd_publish','the publication window of new objects',
 ['ufd_publish_begin','ufd_publish_end'],
r'''The kernel's order of publication: an object made by a call becomes
visible only once the reply to the caller has been written.  Between
.BR ufd_publish_begin ()
and
.BR ufd_publish_end (),
objects that this thread makes in
.I ctx
are found only by this thread's own calls.
.BR ufd_publish_end ()
with
.I commit
true makes them visible to everyone; with false it destroys them (newest
first), so no other thread can ever see an ID that then vanishes.  Windows
nest; at most 8 objects are held back per window (later ones are published
at once).  The
.B struct ufd_publish
lives on the caller's stack and must stay there until
.BR ufd_publish_end ().''',
r'''Neither function returns a value; neither can fail.''')

page('ufd_ioas','IO address spaces',
 ['ufd_ioas_alloc','ufd_ioas_map','ufd_ioas_copy','ufd_ioas_unmap','ufd_ioas_unmap_range',
  'ufd_ioas_cut','ufd_ioas_page_sizes','ufd_ioas_iova_ranges','ufd_ioas_allow_iovas',
  'ufd_ioas_reserve','ufd_ioas_set_huge_pages','ufd_ioas_get_huge_pages','ufd_ioas_for_each_area'],
r'''An IOAS (IO address space) maps IOVA intervals to memory of a source.
IOVA intervals are [start, last], last inclusive; lengths are bytes.
.PP
.BR ufd_ioas_alloc ()
is IOMMU_IOAS_ALLOC.
.BR ufd_ioas_map ()
maps
.RI [ uaddr ", " uaddr " + " length )
of
.I src
at
.I *iova
.RB ( UFD_MAP_FIXED_IOVA )
or at an IOVA the engine picks and stores in
.IR *iova ;
.I flags
also carries
.B UFD_MAP_READ
and
.BR UFD_MAP_WRITE .
The pages are pinned when a domain (an attached device) or an access needs
them.
.BR ufd_ioas_copy ()
maps what
.RI [ src_iova ", +" length )
of
.I src_ioas_id
maps into
.IR dst_ioas_id ,
sharing its pages (IOMMU_IOAS_COPY).
.PP
.BR ufd_ioas_unmap ()
unmaps every area inside
.RI [ iova ", " iova " + " length );
an area that sticks out fails the call and nothing is unmapped; iova 0
with length UINT64_MAX unmaps everything;
.I *unmapped
gets the bytes unmapped.
.BR ufd_ioas_unmap_range ()
has VFIO type1 semantics: a range with nothing mapped is success with
.I *unmapped
0.
.BR ufd_ioas_cut ()
splits areas so that each of the
.I n
.I iovas
is the last byte of an area (VFIO type1 lets unmap cut mappings).
.PP
.BR ufd_ioas_page_sizes ()
stores the IO page sizes every domain of the IOAS supports.
.BR ufd_ioas_iova_ranges ()
stores up to
.I max
usable IOVA ranges, the total in
.I *num
and the IOVA alignment in
.IR *alignment .
.BR ufd_ioas_allow_iovas ()
replaces the allowed list;
.BR ufd_ioas_reserve ()
reserves
.RI [ start ", " last ]
for the life of the IOAS.
.BR ufd_ioas_set_huge_pages ()
and
.BR ufd_ioas_get_huge_pages ()
are IOMMU_OPTION_HUGE_PAGES.
.BR ufd_ioas_for_each_area ()
calls
.I fn
for each area in IOVA order and stops at the first non-zero return.''',
r'''All return 0 on success or a negative errno; every one gives
.B \-ENOENT
when the IOAS ID names no IOAS.  Besides:
.TP
.BR ufd_ioas_alloc ()
.BR \-ENOMEM .
.TP
.BR ufd_ioas_map ()
.B \-EOPNOTSUPP
(unknown flags),
.B \-EINVAL
(zero length, IOVA or address not aligned),
.B \-EOVERFLOW
(the range wraps),
.B \-EEXIST
(a fixed IOVA overlaps an area or reservation),
.B \-ENOSPC
(no free IOVA of that size),
.B \-ENOMEM
(no memory, or RLIMIT_MEMLOCK exceeded while pinning for a domain),
.B \-EFAULT
(the source cannot pin the memory: it is not mapped).
.TP
.BR ufd_ioas_copy ()
as map, and
.B \-ENOENT
or
.B \-EINVAL
if the source range is not fully mapped or not aligned to its areas.
.TP
.BR ufd_ioas_unmap "(), " ufd_ioas_unmap_range ()
.B \-EINVAL
(zero length or misaligned),
.B \-EOVERFLOW
(the range wraps),
.B \-ENOENT
(an area sticks out of the range; for
.BR ufd_ioas_unmap ()
also: nothing mapped there),
.B \-EDEADLK
(an access would not let go of its pins).
.TP
.BR ufd_ioas_cut ()
.B \-EINVAL
(a cut not aligned to the IOAS alignment, large pages on with domains, or
an access on the area),
.B \-EBUSY
(the area is being unmapped),
.BR \-ENOMEM .
.TP
.BR ufd_ioas_allow_iovas ()
.B \-EINVAL
(a malformed range),
.B \-EADDRINUSE
(a range intersects a reservation),
.B \-ENOMEM.
.TP
.BR ufd_ioas_reserve ()
.B \-EINVAL
.RI ( start " > " last ),
.B \-EADDRINUSE
(intersects an area or an allowed range),
.B \-ENOMEM.
.TP
.BR ufd_ioas_set_huge_pages ()
.B \-EINVAL
(large pages cannot be turned off while areas are mapped with domains).
.TP
.BR ufd_ioas_for_each_area ()
otherwise the first non-zero value
.I fn
returned.
.PP
.BR ufd_ioas_page_sizes "(), " ufd_ioas_iova_ranges "(), " ufd_ioas_get_huge_pages ()
fail only with
.BR \-ENOENT .''')

page('ufd_device','devices and HW page tables (HWPT)',
 ['ufd_device_bind','ufd_device_unbind','ufd_device_attach','ufd_device_query_attach',
  'ufd_device_replace','ufd_device_detach','ufd_device_get_hw_info',
  'ufd_device_driver_data',
  'ufd_hwpt_alloc_paging','ufd_hwpt_alloc_paging_sizes','ufd_hwpt_translate','ufd_hwpt_page_sizes',
  'ufd_hwpt_can_nest','ufd_hwpt_alloc_nested','ufd_hwpt_alloc_nested_s1',
  'ufd_hwpt_s1_invalidate','ufd_hwpt_s1_stats','ufd_hwpt_nested_priv',
  'ufd_hwpt_set_dirty_tracking','ufd_hwpt_read_dirty','ufd_hwpt_read_dirty_bitmap',
  'ufd_hwpt_mark_dirty',
  'ufd_stdev_create','ufd_stdev_device'],
r'''A device is described by
.BR "struct ufd_device_info" :
the IOVA aperture its IOMMU translates, reserved holes, the IO page sizes,
dirty tracking, PASID width and the driver data GET_HW_INFO returns.
.BR ufd_device_bind ()
binds one to the context (a DEVICE object, not destroyable by ID);
.BR ufd_device_unbind ()
detaches it if attached and destroys it.
.BR ufd_device_attach ()
attaches to
.IR *pt_id :
an IOAS (an automatic paging HWPT is found or made, and
.I *pt_id
becomes its ID) or a HWPT.
.BR ufd_device_replace ()
moves an attached device to
.IR *pt_id ;
.BR ufd_device_detach ()
detaches it.
.BR ufd_device_query_attach ()
tells what attaching to IOAS
.I ioas_id
would do without doing it: the IOVA ranges the IOAS would have (up to
.IR max ,
.I *num
the total) and its alignment.
.BR ufd_device_get_hw_info ()
is IOMMU_GET_HW_INFO: up to
.I len
bytes of driver data into
.IR buf .
.BR ufd_device_driver_data ()
gives the driver state kept with the device
.RI ( driver_data_size
bytes of
.BR "struct ufd_device_info" ,
zeroed at bind, freed with the device; NULL when none was asked for).
.PP
.BR ufd_hwpt_alloc_paging ()
makes a paging HWPT for the device's IOMMU mirroring an IOAS
.RB ( UFD_HWPT_NEST_PARENT ,
.BR UFD_HWPT_DIRTY_TRACKING ).
.BR ufd_hwpt_alloc_paging_sizes ()
does the same with the leaf sizes the driver chose for its table
.RI ( pgsize_bitmap ;
0 means the device's); the smallest is the granule, 2 KiB to 64 KiB,
and sizes no level of a radix table has are dropped.
.BR ufd_hwpt_translate ()
translates an IOVA through its page table: where the engine reaches it,
the size of the leaf and its flags
.RB ( UFD_PTE_VALID ", " UFD_PTE_LEAF ", " UFD_PTE_READ ", " UFD_PTE_WRITE ,
.BR UFD_PTE_DIRTY ", " UFD_PTE_ACCESSED ", " UFD_PTE_INDIRECT );
.BR ufd_hwpt_page_sizes ()
counts the leaves in use per level.
.BR ufd_hwpt_can_nest ()
tells whether a HWPT can be a nesting parent.
.BR ufd_hwpt_alloc_nested ()
makes a nested HWPT whose driver data is the caller's
.I priv
(freed by
.IR ops\->destroy );
.BR ufd_hwpt_alloc_nested_s1 ()
makes one whose stage 1 is an x86-64 format table at
.I root_gpa
with address width 48 or 57, walked by the engine on DMA and cached in an
IOTLB that
.BR ufd_hwpt_s1_invalidate ()
invalidates
.RI ( npages
UINT64_MAX: all) and
.BR ufd_hwpt_s1_stats ()
reports.
.BR ufd_hwpt_nested_priv ()
returns the
.I priv
of a nested HWPT.
.PP
Dirty tracking (HWPTs made with
.BR UFD_HWPT_DIRTY_TRACKING ):
.BR ufd_hwpt_set_dirty_tracking ()
turns it on (clearing old dirty state) or off;
.BR ufd_hwpt_read_dirty ()
reports each dirty IO page in the range to
.I fn
(called with the engine lock held: it must not call the engine) and clears
it unless
.IR keep ;
.BR ufd_hwpt_read_dirty_bitmap ()
does the same into
.IR bitmap ,
ORed in (bit
.I i
is
.IR iova " + " i " * " page_size ;
any byte alignment; a page size larger than the IO page ORs IO pages
together), at about the cost of copying the bitmap: the engine keeps
dirty state as bitmaps, and a range with nothing dirty costs next to
nothing; a NULL
.I bitmap
only checks the arguments;
.BR ufd_hwpt_mark_dirty ()
sets the dirty bit under each set bit of
.I bitmap
as a device's DMA write would.
.PP
.BR ufd_stdev_create ()
binds a device and makes a destroyable handle owning it (the kernel
selftest's "stdev"): destroying the handle detaches and unbinds the device.
.BR ufd_stdev_device ()
gives the device of a handle.''',
r'''All return 0 on success or a negative errno; an ID that names no object
of the right kind gives
.BR \-ENOENT .
Besides:
.TP
.BR ufd_device_bind "(), " ufd_stdev_create ()
.B \-EINVAL
(an inconsistent
.IR info :
no page size, aperture start above its last byte),
.BR \-ENOMEM .
.TP
.BR ufd_device_unbind ()
.B \-EBUSY
(DMA ports of the device are open).
.TP
.BR ufd_device_attach "(), " ufd_device_replace ()
.B \-EINVAL
(already attached, resp. not attached; the HWPT does not suit the device),
.B \-EADDRINUSE
(mappings or allowed ranges of the IOAS fall outside what the device
reaches),
.B \-ENOMEM
(also: RLIMIT_MEMLOCK exceeded when pinning for the new domain),
.B \-EFAULT
(memory to pin is gone).
.TP
.BR ufd_device_query_attach ()
.B \-EADDRINUSE
(a mapping or an allowed range would be cut),
.B \-EINVAL
(the device's IO page size is larger than a CPU page),
.BR \-ENOMEM .
.TP
.BR ufd_device_detach ()
.B \-EINVAL
(not attached).
.TP
.BR ufd_hwpt_alloc_paging ()
.B \-EOPNOTSUPP
(dirty tracking asked of a device without it, or unknown flags),
.BR \-ENOMEM .
.TP
.BR ufd_hwpt_translate ()
.B \-ENOENT
also when nothing is mapped at
.IR iova .
.TP
.BR ufd_hwpt_can_nest ()
.B \-EINVAL
(not a paging HWPT made with
.BR UFD_HWPT_NEST_PARENT ).
.TP
.BR ufd_hwpt_alloc_nested "(), " ufd_hwpt_alloc_nested_s1 ()
.B \-EINVAL
(parent not a NEST_PARENT paging HWPT; for _s1 an address width other than
48 or 57, a misaligned root),
.BR \-ENOMEM .
.TP
.BR ufd_hwpt_s1_invalidate "(), " ufd_hwpt_s1_stats ()
.B \-ENOENT
also for a HWPT without an engine-walked stage 1.
.TP
.BR ufd_hwpt_set_dirty_tracking ()
.B \-EOPNOTSUPP
(HWPT not made with
.BR UFD_HWPT_DIRTY_TRACKING ).
.TP
.BR ufd_hwpt_read_dirty "(), " ufd_hwpt_read_dirty_bitmap ()
.B \-EOPNOTSUPP
(as above),
.B \-EINVAL
(range not mapped without holes or misaligned, bad page size),
.B \-EOVERFLOW
(the range wraps).
.TP
.BR ufd_hwpt_mark_dirty ()
.B \-EINVAL
(bad page size or misaligned IOVA).''')

page('ufd_device_pasid','PASID attachments of a device',
 ['ufd_device_pasid_attach','ufd_device_pasid_replace','ufd_device_pasid_detach',
  'ufd_device_pasid_hwpt','ufd_hwpt_alloc_nested_flags','ufd_dma_open_pasid'],
r'''A device whose IOMMU has a PASID width
.RB ( max_pasid_log2
of
.BR "struct ufd_device_info" )
greater than 0 can attach a HWPT to each PASID from 1 to
.RI 2^ max_pasid_log2 " \- 1,"
apart from its RID attachment
.RB ( ufd_device_attach (3);
PASID 0,
.BR UFD_NO_PASID ,
is the RID).
.PP
.BR ufd_device_pasid_attach ()
attaches PASID
.I pasid
of
.I dev_id
to HWPT
.IR hwpt_id ,
a paging HWPT made with
.B UFD_HWPT_PASID
by
.BR ufd_hwpt_alloc_paging (3)
or a nested one made with it by
.BR ufd_hwpt_alloc_nested_flags (),
which is
.BR ufd_hwpt_alloc_nested (3)
with
.B UFD_HWPT_*
flags.  A PASID takes such a HWPT only while the RID is detached or
attached to one too, and while any PASID is attached the RID only moves to
such HWPTs.  An IOAS is refused (there is no automatic HWPT for a PASID).
A PASID attachment puts no reserved IOVA ranges into the IOAS.
.BR ufd_device_pasid_replace ()
moves an attached PASID to another HWPT, or does nothing if it is on that
one already; on failure the old attachment stays.
.BR ufd_device_pasid_detach ()
detaches a PASID; a PASID that is not attached is no error.
.BR ufd_device_pasid_hwpt ()
stores in
.I *hwpt_id
the HWPT a PASID (UFD_NO_PASID: the RID) is attached to, 0 for none.
.PP
A PASID attachment holds its HWPT:
.BR ufd_destroy (3)
of it is
.B \-EBUSY
until the PASID is detached or replaced or the device unbound (unbinding
detaches every PASID).  If the device's
.B ops\->set_dev_pasid
hook is set, it is called after the engine's own checks with the new HWPT
(0 when detaching) and the old one; its error fails the attach or replace
and changes nothing.  Faults a device reports with
.B UFD_PGFAULT_PASID_VALID
go to the fault queue of the HWPT attached at that PASID, or of the RID's
if the PASID has none.
.PP
.BR ufd_dma_open_pasid ()
opens a DMA port (see
.BR ufd_dma (3))
whose accesses carry PASID
.IR pasid :
each goes through the HWPT attached at that PASID when it runs, and fails
with
.B \-ENODEV
while none is;
.B UFD_NO_PASID
gives the RID's port of
.BR ufd_dma_open (3).''',
r'''0 on success, or a negative errno:
.B \-ENOENT
(no such device or HWPT),
.B \-EINVAL
(PASID 0 or beyond the width, a device without PASIDs, an IOAS or another
object that is not a HWPT, a HWPT made without
.BR UFD_HWPT_PASID ,
the RID on such a HWPT, a HWPT the device cannot use, replace of a PASID
not attached),
.B \-EBUSY
(attach of a PASID that is attached already),
.B \-ENOMEM
or the driver hook's error.
.BR ufd_device_pasid_detach ()
and
.BR ufd_device_pasid_hwpt ()
fail only with
.B \-ENOENT
(and detach with
.B \-EINVAL
for PASID 0).
.BR ufd_dma_open_pasid ()
fails with
.B \-ENOENT
(no such device),
.B \-EINVAL
(a PASID the device does not have) or
.BR \-ENOMEM .
.BR ufd_hwpt_alloc_nested_flags ()
fails as
.BR ufd_hwpt_alloc_nested (3),
and with
.B \-EOPNOTSUPP
for flags other than
.BR UFD_HWPT_PASID .''')

page('ufd_dma','a device\'s DMA port',
 ['ufd_dma_open','ufd_dma_close','ufd_dma_read','ufd_dma_write','ufd_dma_map_sg','ufd_dma_unmap_sg'],
r'''A DMA port lets a device's reads and writes go through the page table of
the HWPT it is attached to, as DMA through a real IOMMU does.  A walk costs
O(levels); nothing takes the engine lock, so DMA on many ports runs in
parallel.
.PP
.BR ufd_dma_open ()
opens a port of
.I dev_id
(the port keeps the device from being unbound);
.BR ufd_dma_close ()
closes it.
.BR ufd_dma_read ()
and
.BR ufd_dma_write ()
copy between IOVA and
.IR buf ;
on a fault nothing was copied past it.
.BR ufd_dma_map_sg ()
translates
.RI [ iova ", " iova " + " len )
into at most
.I max
host segments (adjacent IO pages merged) and, on success, keeps the read
side held until
.BR ufd_dma_unmap_sg ().
.PP
Against concurrent unmap: a DMA either completes before an unmap (or
detach, replace) of what it reaches, or does not see that mapping at all
and fails with \-EFAULT; the unmap returns only after every DMA that could
still reach the old pages has finished.  Between map_sg and unmap_sg, call
no other engine function from that thread, and keep the window short.  A
write through a HWPT that tracks dirty pages sets the dirty bits.''',
r'''.BR ufd_dma_close ()
and
.BR ufd_dma_unmap_sg ()
return nothing.  The others return 0 on success or a negative errno:
.TP
.BR ufd_dma_open ()
.B \-ENOENT
(no such device),
.BR \-ENOMEM .
.TP
.BR ufd_dma_read "(), " ufd_dma_write "(), " ufd_dma_map_sg ()
.B \-EFAULT
(nothing mapped there, or the mapping forbids the direction: an IO page
fault),
.B \-ENODEV
(the device is attached to nothing),
.B \-EOPNOTSUPP
(through a nested HWPT without a stage-1 format the engine walks).
.BR ufd_dma_map_sg ()
also:
.B \-E2BIG
(more than
.I max
segments needed),
.B \-EBUSY
(the port already holds a map_sg).  On failure nothing is held.''')

page('ufd_access','access objects: an in-process user of an IOAS',
 ['ufd_access_create','ufd_access_destroy','ufd_access_get_priv','ufd_access_replace_ioas',
  'ufd_access_pin','ufd_access_unpin','ufd_access_rw'],
r'''An access reads and writes IOVA of an IOAS, or pins IOVA to reach it
directly (an emulated device's DMA, the kernel's mdev drivers).  When an
area with pins of the access is about to be unmapped the engine calls
.IR ops\->unmap ;
the owner must unpin every pin intersecting the range before it returns.
.I ops\->destroy
is called once when the access is destroyed, after its pins are gone.
.PP
.BR ufd_access_create ()
makes an access on IOAS
.IR ioas_id ;
.BR ufd_access_destroy ()
destroys it;
.BR ufd_access_get_priv ()
returns its
.IR priv ;
.BR ufd_access_replace_ioas ()
moves it to another IOAS (it must hold no pins).
.BR ufd_access_pin ()
pins
.RI [ iova ", " iova " + " length ):
.IR hosts [ i ]
is where page
.I i
of the range (page aligned around
.IR iova )
is reached;
.BR ufd_access_unpin ()
releases such a pin.
.BR ufd_access_rw ()
copies between IOVA and
.I buf
.RB ( UFD_ACCESS_RW_WRITE :
to IOVA;
.BR UFD_ACCESS_RW_SLOW :
never use pinned pages).''',
r'''.BR ufd_access_destroy ()
and
.BR ufd_access_unpin ()
return nothing.  The others return 0 on success or a negative errno;
an ID that names no access (or IOAS) gives
.BR \-ENOENT .
Besides:
.TP
.BR ufd_access_create ()
.BR \-ENOMEM .
.TP
.BR ufd_access_replace_ioas ()
.B \-EBUSY
(the access holds pins).
.TP
.BR ufd_access_pin ()
.B \-ENOENT
(the range is not fully mapped),
.B \-EPERM
(a write pin of a read-only area),
.B \-EINVAL
(zero length),
.B \-EOVERFLOW
(the range wraps),
.B \-ENOMEM
(also RLIMIT_MEMLOCK exceeded),
.B \-EFAULT
(the source cannot pin the memory).
.TP
.BR ufd_access_rw ()
.B \-ENOENT
(not fully mapped),
.B \-EPERM
(writing a read-only area),
.B \-EINVAL
(zero length or unknown flags),
.B \-EOVERFLOW
(the range wraps),
.B \-EFAULT
(the source's memory is gone).''')

page('ufd_fault','IO page fault queues',
 ['ufd_fault_alloc','ufd_fault_hold_fd','ufd_fault_release_fd','ufd_device_report_fault',
  'ufd_fault_read','ufd_fault_respond','ufd_fault_pending','ufd_fault_set_notify'],
r'''A fault queue (IOMMU_FAULT_QUEUE_ALLOC) receives the page requests of
devices attached to a HWPT made with it, as
.B struct ufd_pgfault
records grouped by
.IR grpid .
.PP
.BR ufd_fault_alloc ()
makes a queue.
.BR ufd_fault_hold_fd ()
marks it held by an fd (destroy is \-EBUSY until
.BR ufd_fault_release_fd ()
is called when the fd's last copy is closed).
.BR ufd_device_report_fault ()
is a device's page request: requests without
.B UFD_PGFAULT_LAST_PAGE
wait for the rest of their group; the last one delivers the group to the
fault queue of the HWPT the device is attached to.
.BR ufd_fault_read ()
takes whole groups, oldest first, into
.I out
(room for
.I max
records); each group gets its cookie then.
.BR ufd_fault_respond ()
answers a delivered group
.RI ( code
0: success, 1: invalid).
.BR ufd_fault_pending ()
tells whether a group waits to be read;
.BR ufd_fault_set_notify ()
has
.I fn
called (with the engine lock held; it must not call the engine) whenever
the queue goes from empty to not empty or back, and once at once with the
current state; NULL removes it.''',
r'''.BR ufd_fault_release_fd ()
returns nothing;
.BR ufd_fault_pending ()
returns true or false (false also for an unknown ID).
.BR ufd_fault_read ()
returns the number of records stored, 0 when none is queued, or a negative
errno.  The others return 0 or a negative errno; an ID that names no fault
queue (or device) gives
.BR \-ENOENT .
Besides:
.TP
.BR ufd_fault_alloc ()
.BR \-ENOMEM .
.TP
.BR ufd_device_report_fault ()
.B \-EOPNOTSUPP
(the device's HWPT has no fault queue; the request is answered as failed),
.BR \-ENOMEM .
.TP
.BR ufd_fault_read ()
.B \-EINVAL
(the first group does not fit in
.IR max ).
.TP
.BR ufd_fault_respond ()
.B \-EINVAL
(unknown cookie, or a code other than 0 or 1).''')

page('ufd_viommu','virtual IOMMUs and what lives on them',
 ['ufd_viommu_alloc','ufd_viommu_priv','ufd_viommu_mmap_find','ufd_viommu_mmap_get',
  'ufd_viommu_mmap_put','ufd_viommu_alloc_hwpt_nested','ufd_vdevice_alloc',
  'ufd_viommu_find_dev','ufd_device_viommu','ufd_veventq_alloc','ufd_veventq_hold_fd',
  'ufd_veventq_release_fd','ufd_viommu_report_event','ufd_veventq_read',
  'ufd_veventq_pending','ufd_veventq_set_notify','ufd_hw_queue_alloc'],
r'''A vIOMMU (IOMMU_VIOMMU_ALLOC) is the slice of a physical IOMMU that one
virtual machine owns.  It sits on a paging HWPT made with
.B UFD_HWPT_NEST_PARENT
and holds it; everything made on the vIOMMU holds the vIOMMU, so destroy
goes in the opposite order (\-EBUSY otherwise).  The driver's state is the
caller's
.IR priv ;
.B struct ufd_viommu_ops
says what the driver does:
.I destroy
frees
.IR priv ,
.I hw_queue_init
takes or refuses a HW queue (setting
.I *holds_prev
when the new queue depends on the one of index \- 1, which is then busy),
.I hw_queue_destroy
lets one go.
.PP
.BR ufd_viommu_alloc ()
makes one; a non-zero
.I mmap_length
(page aligned) reserves a range of the context's mmap offsets, from one
page up, returned in
.IR *mmap_offset .
.BR ufd_viommu_mmap_find ()
finds the vIOMMU whose range is exactly
.RI [ offset ", " offset " + " length );
.BR ufd_viommu_mmap_get ()
and
.BR ufd_viommu_mmap_put ()
count the mappings of it, which keep it busy.
.BR ufd_viommu_priv ()
returns a vIOMMU's type and
.IR priv .
.PP
.BR ufd_viommu_alloc_hwpt_nested ()
makes a nested HWPT on the vIOMMU's parent, as
.BR ufd_hwpt_alloc_nested ();
a device attaches to it only once it has a virtual device on that vIOMMU.
.BR ufd_vdevice_alloc ()
gives a device its guest-visible
.I virt_id
on the vIOMMU: a device has at most one, an ID names at most one device.
Destroying the device destroys its virtual device, whose object ID stays
taken (\-ENOENT) until the context closes.
.BR ufd_viommu_find_dev ()
finds the device of a virtual ID;
.BR ufd_device_viommu ()
the vIOMMU of the nested HWPT a device is attached to and the device's
virtual ID on it.
.PP
.BR ufd_veventq_alloc ()
makes an event queue of
.I type
(one per type per vIOMMU) that keeps at most
.I depth
events.
.BR ufd_viommu_report_event ()
queues one; on a full queue it is lost, and the reader finds a header with
.B UFD_VEVENT_LOST_EVENTS
and no data instead.  Sequence numbers count from 0 and wrap at
INT32_MAX to 0.
.BR ufd_veventq_read ()
takes events, oldest first: each an 8-byte header (flags, sequence) and its
data.  The fd of a queue holds it as a fault queue's does
.RB ( ufd_veventq_hold_fd (),
.BR ufd_veventq_release_fd ());
.BR ufd_veventq_pending ()
and
.BR ufd_veventq_set_notify ()
are those of
.BR ufd_fault (3).
.PP
.BR ufd_hw_queue_alloc ()
pins
.RI [ iova ", " iova " + " length )
of the parent's IOAS while the queue lives (an unmap of it is \-EBUSY) and
hands the host address of its first byte to the driver.''',
r'''.BR ufd_viommu_mmap_put ()
and
.BR ufd_veventq_release_fd ()
return nothing;
.BR ufd_veventq_pending ()
returns true or false.
.BR ufd_veventq_read ()
returns the bytes stored, 0 when the queue is empty, or a negative errno.
The others return 0 or a negative errno; an ID that names nothing of the
right kind gives
.BR \-ENOENT .
Besides:
.TP
.BR ufd_viommu_alloc ()
.B \-EINVAL
(not a nesting parent, or a bad
.IR mmap_length ),
.BR \-ENOMEM .
.TP
.BR ufd_viommu_mmap_find ()
.B \-ENXIO
(no range is exactly that).
.TP
.BR ufd_vdevice_alloc ()
.B \-EEXIST
(the device has a virtual device, or the vIOMMU has
.IR virt_id ),
.B \-EINVAL
(the device is behind another IOMMU).
.TP
.BR ufd_veventq_alloc ()
.B \-EEXIST
(the type has a queue),
.B \-EINVAL
(depth 0).
.TP
.BR ufd_viommu_report_event ()
.B \-EOPNOTSUPP
(no queue of that type).
.TP
.BR ufd_veventq_read ()
.B \-EINVAL
(the count is shorter than a header, or the first event does not fit).
.TP
.BR ufd_hw_queue_alloc ()
.B \-EINVAL
(length 0),
.BR \-EOVERFLOW ,
.B \-ENOENT
(not all mapped),
.B \-EFAULT
(not contiguous in host memory),
.B \-EOPNOTSUPP
(the driver has no HW queues), or the driver's errno.''',
 extra_see=('ufd_device','ufd_fault'))

page('ufd_ext','the uiommufd extensions: reservations, minimum aperture, attach query, page sizes used, map hint',
 ['ufd_page_sizes_used','ufd_device_query_attach_verdict','ufd_ioas_set_min_aperture',
  'ufd_ioas_reserve_iova','ufd_ioas_unreserve_iova','ufd_ioas_reservations','ufd_ioas_map_hint'],
r'''The ideas of the iommufd design discussion that Linux did not take
(see
.BR uiommufd\-extensions (7),
which also gives the /dev/iommu commands that reach them).
.PP
.BR ufd_page_sizes_used ()
reports the IO page sizes actually used to map
.RI [ iova ", " iova " + " length ):
for a paging HWPT
.IR pt_id ,
the leaves of its IO page table; for an IOAS, at each IOVA the smallest
leaf any of its HWPTs uses there.  Each
.B struct ufd_page_run
is a maximal run of one leaf size, clipped to the range; up to
.I max
are stored,
.I *num
gets the total.
.PP
.BR ufd_device_query_attach_verdict ()
decides, without doing it, what
.BR ufd_device_attach ()
of
.I dev_id
to IOAS
.I ioas_id
(or
.BR ufd_device_replace ()
for an attached device) would do: the IOVA ranges the IOAS would have,
and in
.B struct ufd_attach_verdict
the errno it would fail with
.RI ( error ,
0 if accepted), why
.RB ( UFD_ATTACH_CUTS_MAPPING ", " UFD_ATTACH_CUTS_ALLOWED ", "
.BR UFD_ATTACH_CUTS_RESERVATION ", " UFD_ATTACH_ALIGNMENT ", "
.BR UFD_ATTACH_PAGE_SIZE ", " UFD_ATTACH_MIN_APERTURE ", "
.BR UFD_ATTACH_MIN_PAGE_SIZES ", " UFD_ATTACH_DOMAIN ),
the range that conflicts, the alignment and the page sizes of the domain
the device would use.
.PP
.BR ufd_ioas_set_min_aperture ()
requires of the IOAS a window of
.I length
bytes of usable IOVA (at
.I base
with
.BR UFD_MIN_APERTURE_FIXED_BASE )
and domains supporting every size of
.IR pgsize_bitmap ;
attaches that would break it then fail.
.PP
.BR ufd_ioas_reserve_iova ()
reserves IOVA without mapping anything: automatic maps avoid it, an
attach that cannot reach it fails as for a mapping, FIXED maps may map
over it, and unmapping them leaves it reserved.
.BR ufd_ioas_unreserve_iova ()
removes the reservations inside a range (all or nothing);
.BR ufd_ioas_reservations ()
lists them.
.PP
.BR ufd_ioas_map_hint ()
maps at
.I *iova
if that range is free for an automatic map, else wherever an automatic
map would go;
.I *at_hint
says which.''',
r'''0 on success, or a negative errno.
.TP
.B \-ENOENT
no such object; for
.BR ufd_ioas_unreserve_iova ()
also: no reservation in the range, or one sticks out of it.
.TP
.B \-EINVAL
a zero length; a misaligned reservation, or one meeting IOVA a device
reserves; a minimum aperture of length 0 with a base, flag or page sizes.
.TP
.B \-EEXIST
the reservation meets another one.
.TP
.B \-EOVERFLOW
the range wraps.
.TP
.BR \-ENOSPC ", " \-ERANGE
.BR ufd_ioas_set_min_aperture ():
the IOAS lacks the window, or a domain lacks a page size, now.
.TP
.B \-EOPNOTSUPP
unknown flags.
.PP
.BR ufd_ioas_map_hint ()
fails as
.BR ufd_ioas_map ().''')

page('ufd_pasid_set','PASID sets with quotas (uiommufd extension)',
 ['ufd_pasid_set_alloc','ufd_pasid_alloc','ufd_pasid_free','ufd_pasid_set_attach',
  'ufd_pasid_set_info','ufd_pasid_set_list','ufd_engine_set_pasid_capacity','ufd_engine_pasid_usage'],
r'''The IOASID sets of the 2021 discussion, which Linux never kept (see
.BR uiommufd\-extensions (7)).
.PP
.BR ufd_pasid_set_alloc ()
makes a PASID set, an object of the context, with the PASID range
.RI [ first ", " last ]
(inclusive; 1 <=
.I first
<=
.I last
<=
.BR UFD_PASID_MAX ,
2^20 \- 1) and a
.IR quota :
at most that many of its PASIDs are allocated at a time.
.BR ufd_destroy ()
destroys it, and fails with
.B \-EBUSY
while PASIDs are allocated from it; closing the context frees
everything.
.PP
.BR ufd_pasid_alloc ()
allocates the lowest PASID of the set's range that no set of the context
has allocated (a number is allocated at most once per context); with a
non-zero
.IR dev_id ,
also one that device's IOMMU has.
.BR ufd_pasid_free ()
frees it; a PASID a device of the context has attached (by any attach)
is not freed.
.PP
.BR ufd_pasid_set_attach ()
is
.BR ufd_device_pasid_attach ()
for a PASID allocated from the set only.
.BR ufd_pasid_set_info ()
reports the set's range, quota and count and the engine's capacity and
use;
.BR ufd_pasid_set_list ()
its PASIDs, ascending, up to
.IR max ,
.I *num
the total.
.PP
The engine caps the PASIDs allocated from all sets of all its contexts at
its capacity,
.B UFD_PASID_CAPACITY_DEFAULT
(2^20 \- 1) until
.BR ufd_engine_set_pasid_capacity ()
changes it;
.BR ufd_engine_pasid_usage ()
reads the capacity and the count.''',
r'''0 on success, or a negative errno.
.TP
.B \-ENOSPC
the set's quota is reached, or the engine's capacity, or no PASID of the
range (within the device's, if given) is free.
.TP
.B \-ENOENT
no such set or device; a PASID not allocated from the set.
.TP
.B \-EBUSY
.BR ufd_pasid_free ():
the PASID is attached;
.BR ufd_engine_set_pasid_capacity ():
below the PASIDs allocated now.
.TP
.B \-EINVAL
a bad range or quota 0; a device without PASIDs or none of the range;
a capacity above
.BR UFD_PASID_MAX ;
.BR ufd_pasid_set_attach ()
also fails as
.BR ufd_device_pasid_attach ().
.TP
.B \-ENOMEM
out of memory; nothing changed.''',
 extra_see=('ufd_device','ufd_ext'))
page('ufd_mem_register','memory registered with a context, pinned and charged once',
 ['ufd_mem_register','ufd_mem_unregister','ufd_mem_reg_info'],
r'''.BR ufd_mem_register ()
pins the whole pages of
.RI [ uaddr ", " uaddr " + " length )
of
.I src
now and charges them once to RLIMIT_MEMLOCK, per user or per process as
the context's RLIMIT_MODE says (not at all with CAP_IPC_LOCK).  The
registration is an object of the context; its ID is stored in
.IR *out_id .
.I flags
is 0 or
.B UFD_MAP_WRITE
(pin for writing).
.PP
From then on a map
.RB ( ufd_ioas_map (),
.BR ufd_ioas_map_hint ())
by the same user (the credential's uid), of a source of the same address
space, in any IOAS of any context of the engine, whose range lies inside
the registration, uses the registration's pinned pages: nothing is pinned
or charged again, and every such area shares one pages object
.RI ( pages_id
of
.BR ufd_ioas_for_each_area ()).
A map asking for
.B UFD_MAP_WRITE
of a registration without it, and a map of a file, are pinned on their own
as before.
.PP
.BR ufd_mem_unregister ()
removes the registration, as
.BR ufd_destroy ()
of its ID does: what no area still uses is unpinned and uncharged.
.PP
.BR ufd_mem_reg_info ()
fills
.I *info
with the registration's range, the bytes pinned, the bytes charged, to
whom
.RI ( account
1: the user
.IR uid ,
2: the process
.IR pid ,
0: not charged) and the number of areas using it.''',
r'''0 on success, else a negative errno:
.TP
.B \-EINVAL
.I length
is 0.
.TP
.B \-EOVERFLOW
the range wraps.
.TP
.B \-EFAULT
the memory is not there.
.TP
.B \-ENOMEM
RLIMIT_MEMLOCK, or no memory.
.TP
.B \-EBUSY
.BR ufd_mem_unregister ():
an area still uses the registration.
.TP
.B \-ENOENT
no registration has that ID.
.TP
.B \-EOPNOTSUPP
unknown flags.''')

page('ufd_ioas_map_granule','map with a guaranteed unmap granularity (uiommufd extension)',
 ['ufd_ioas_map_granule'],
r'''.BR ufd_ioas_map_granule ()
maps
.RI [ uaddr ", " uaddr " + " length )
of
.I src
at
.I *iova
.RB ( UFD_MAP_FIXED_IOVA )
or at an IOVA the engine picks (stored in
.IR *iova ),
as
.BR ufd_ioas_map ()
does, and gives the area an unmap granularity
.IR granule :
a power of two, at least 4096.
.IR uaddr ,
.I length
and a fixed
.I *iova
must be multiples of it; an allocated IOVA is made one.
.I src
may be a file source
.RB ( ufd_source_file ());
.I uaddr
is then the offset in the file.
.I flags
is
.B UFD_MAP_READ
and/or
.BR UFD_MAP_WRITE ,
optionally with
.BR UFD_MAP_FIXED_IOVA .
.PP
The domains of the IOAS still map the area with the largest IO pages that
fit (2 MiB, 1 GiB where the IOVA, the memory and the length allow it;
.BR ufd_page_sizes_used ()
shows them).  Later,
.BR ufd_ioas_unmap ()
or
.BR ufd_ioas_unmap_range ()
(and the VFIO type1 UNMAP_DMA of a compat container, which uses it) of
any range whose ends, where they fall inside the area, are multiples of
.I granule
from the area's start, succeeds: the area is cut in two or three (the
pieces share the pinned pages; the part unmapped is unpinned and
uncharged), access pins outside the part move with their piece, and in
every domain the superpages that straddle a cut are split in place: the
lower-level table is built fully populated with the same translations and
then replaces the leaf with one atomic store, so DMA to the rest of the
area
.RB ( ufd_dma_read (),
.BR ufd_dma_write ())
never faults while it happens.  Each piece keeps the granule.
.PP
A plain map keeps the kernel's rule: an unmap that covers only part of
its area is
.BR \-ENOENT .
.BR ufd_ioas_for_each_area ()
reports an area's granule in
.I granule
of
.B struct ufd_area_info
(0 for a plain map).''',
r'''0 on success, else a negative errno:
.TP
.B \-EINVAL
.I granule
is not a power of two of at least 4096, or does not divide
.IR uaddr ,
.I length
or a fixed
.IR *iova ;
.I length
is 0; neither read nor write was asked.  For an unmap: an end inside a
granule area that is not a multiple of its granule.
.TP
.B \-EOPNOTSUPP
unknown flags.
.TP
.B \-EOVERFLOW
.I *iova
or
.I length
out of range.
.TP
.B \-ENOENT
no IOAS has that ID.
.TP
.B \-EEXIST
something is mapped there already.
.TP
.B \-ENOSPC
no free IOVA of that alignment.
.TP
.B \-EFAULT
the memory is not there.
.TP
.B \-ENOMEM
out of memory, or RLIMIT_MEMLOCK.  A failed unmap of a granule area (for
instance \-ENOMEM while building the split tables) changes nothing
(accesses pinning the part to go have been told, as by any unmap).
.TP
.B \-EDEADLK
(unmap) an access keeps a pin in the part to go.''')

page('ufd_ioas_copy_resv','copy mappings and their IOVA reservations (uiommufd extension)',
 ['ufd_ioas_copy_resv'],
r'''.BR ufd_ioas_copy_resv ()
does what
.BR ufd_ioas_copy ()
does \(em map
.RI [ src_iova ", " src_iova " + " length )
of IOAS
.I src_ioas_id
into IOAS
.I dst_ioas_id
at
.I *dst_iova
.RB ( UFD_MAP_FIXED_IOVA )
or at an IOVA the engine picks, sharing the pinned pages \(em and also
copies the IOVA reservations
.RB ( ufd_ioas_reserve_iova ())
that the source range holds, each clipped to the range, to the same
offsets from
.IR *dst_iova .
A reservation under a mapping (a FIXED map over a reserved window) so
stays under the copy: unmapping part of the copy later leaves that IOVA
reserved in the destination, as in the source, and automatic maps there
avoid it.
.I *out_copied
(may be NULL) receives the number of reservations copied.
.PP
The source range must be mapped throughout, as for
.BR ufd_ioas_copy ().
The destination range must hold no reservation; an automatic
.I *dst_iova
never does.  All or nothing: a failure maps and reserves nothing.''',
r'''0 on success, else a negative errno: those of
.BR ufd_ioas_copy (),
and
.TP
.B \-EEXIST
a fixed destination range holds a reservation, or is mapped.''')

allf=set()
for (name,title,funcs,desc,ret,see,notes) in pages:
    for f in funcs:
        assert f in protos, f
        assert f not in allf, f
        allf.add(f)
missing=set(protos)-allf
assert not missing, missing

os.makedirs(OUT,exist_ok=True)
names=[p[0] for p in pages]
for (name,title,funcs,desc,ret,see,notes) in pages:
    L=[]
    L.append('.\\" SPDX-License-Identifier: MIT')
    L.append('.TH %s 3 %s "uiommufd" "uiommufd Library Functions"' % (name.upper().replace('_','\\_') if False else name, DATE))
    L.append('.SH NAME')
    L.append(', '.join(f.replace('_','_') for f in funcs)+' \\- '+title)
    L.append('.SH LIBRARY')
    L.append('uiommufd engine library')
    L.append('.RI ( libuiommufd ", " \\-luiommufd )')
    L.append('.SH SYNOPSIS')
    L.append('.nf')
    L.append('.B #include <uiommufd.h>')
    L.append('.PP')
    for f in funcs:
        p=protos[f]
        p=re.sub(r'\s*,\s*',', ',p)
        L.append('.B "'+p.replace('"','\\(dq').replace('\\','\\\\') .replace('\\\\(dq','\\(dq')+';"')
    L.append('.fi')
    L.append('.SH DESCRIPTION')
    L.append(desc)
    L.append('.SH RETURN VALUE')
    L.append(ret)
    L.append('.SH NOTES')
    L.append('All entry points are thread-safe (one engine lock).  A failed call leaves')
    L.append('the state unchanged; errno values are those the kernel\'s iommufd gives')
    L.append('for the same request.  Link with')
    L.append('.B $(pkg-config \\-\\-libs uiommufd)')
    L.append('.RB ( \\-luiommufd ).')
    L.append('.SH SEE ALSO')
    others=[n for n in names if n!=name]
    L.append(',\n'.join('.BR %s (3)'%n for n in others)+',')
    L.append('.BR uiommufd (1),')
    L.append('.BR uiommufd\\-run (1)')
    text='\n'.join(L)+'\n'
    text=text.replace('\n.B \\-ENOMEM.\n','\n.BR \\-ENOMEM .\n')
    open(os.path.join(OUT,name+'.3'),'w').write(text)
    for f in funcs:
        if f==name: continue
        open(os.path.join(OUT,f+'.3'),'w').write('.so man3/%s.3\n'%name)
print(len(pages),'pages',len(allf),'functions')
