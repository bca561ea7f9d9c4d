#pragma once
// Encodes whole chunks exactly as HDF5's shuffle + deflate filter pipeline
// does, so that they can be written with H5Dwrite_chunk and read back by any
// HDF5 reader (h5py, h5dump) through the dataset's declared filters.
//
// Why: HDF5 runs a dataset's filters on one thread, and zlib was most of the
// time of writing a store; chunks are independent, so they are encoded on all
// cores here and only the (cheap) chunk writes stay serial.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace elm {

// One encoded chunk, ready for H5Dwrite_chunk with filter mask 0.
using EncodedChunk = std::vector<unsigned char>;

// Splits `count` elements of `elem_size` bytes at `data` into chunks of
// `chunk_elems` elements and encodes each: byte shuffle (as H5Z's shuffle
// filter: byte j of element i goes to j * chunk_elems + i), then a zlib stream
// at `level` (as H5Z's deflate filter; libdeflate or zlib). A last partial
// chunk is padded with zero bytes to the full chunk size, as HDF5 stores edge
// chunks. Chunks are encoded in parallel (one thread per core). Throws ElmError if the
// compressor fails.
std::vector<EncodedChunk> encode_chunks(const unsigned char* data, size_t count, size_t elem_size, size_t chunk_elems,
                                        int level);

}  // namespace elm
