/* SPDX-License-Identifier: MIT */
/*
 * Handlers of the uiommufd extension commands (<linux/iommufd_ext.h>),
 * in ext_ops.c; the table rows are in dispatch.c beside iommufd's.
 */
#ifndef UFD_UAPI_EXT_OPS_H
#define UFD_UAPI_EXT_OPS_H

struct ufd_ucmd;

int ext_ops_query(struct ufd_ucmd *ucmd);
int ext_ops_page_sizes(struct ufd_ucmd *ucmd);
int ext_ops_query_attach(struct ufd_ucmd *ucmd);
int ext_ops_set_min_aperture(struct ufd_ucmd *ucmd);
int ext_ops_reserve(struct ufd_ucmd *ucmd);
int ext_ops_unreserve(struct ufd_ucmd *ucmd);
int ext_ops_reservations(struct ufd_ucmd *ucmd);
int ext_ops_map_hint(struct ufd_ucmd *ucmd);
int ext_ops_map_granule(struct ufd_ucmd *ucmd);
int ext_ops_copy_resv(struct ufd_ucmd *ucmd);
/* PASID sets: in ext_pasid_ops.c */
int ext_ops_pasid_set_alloc(struct ufd_ucmd *ucmd);
int ext_ops_pasid_alloc(struct ufd_ucmd *ucmd);
int ext_ops_pasid_free(struct ufd_ucmd *ucmd);
int ext_ops_pasid_set_info(struct ufd_ucmd *ucmd);
int ext_ops_pasid_set_attach(struct ufd_ucmd *ucmd);
int ext_ops_mem_register(struct ufd_ucmd *ucmd);
int ext_ops_mem_unregister(struct ufd_ucmd *ucmd);
int ext_ops_mem_reg_info(struct ufd_ucmd *ucmd);

#endif
