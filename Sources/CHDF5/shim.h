// The HDF5 C API (Debian's serial build; include path from hdf5.pc).
#include <hdf5.h>
