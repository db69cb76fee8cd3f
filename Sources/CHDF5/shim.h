// The HDF5 C API (Debian's serial build; include path from hdf5.pc).
#include <hdf5.h>

// HDF5's predefined types, property-list classes and access flags are macros that call H5open() first; Swift cannot
// import them, so these inline functions hand their values over.
static inline hid_t mr_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mr_h5t_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t mr_h5t_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t mr_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t mr_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t mr_h5t_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t mr_h5t_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t mr_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t mr_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t mr_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t mr_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline unsigned mr_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned mr_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hsize_t mr_h5s_unlimited(void) { return H5S_UNLIMITED; }
