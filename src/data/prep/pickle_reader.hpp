#pragma once
// A subset of Python's unpickler, enough for NeuronIO simulation pickles
// (nested dicts, lists, numbers, strings and numpy arrays), so that they can
// be read without starting Python.
//
// Protocols 2 to 5 (Python 3's pickle.dump, and Python 2's protocol 2). The
// result is a small object tree in an arena (objects are indices); strings,
// bytes and array payloads stay views into the caller's buffer (the mmapped
// file) until copied out. Only callables we know are accepted: numpy's array,
// dtype and scalar reconstructors (numpy 1 and numpy 2 module names) and the
// helpers Python 3 uses for bytes under protocol 2 (_codecs.encode(text,
// 'latin1'), bytes()). Anything else, and every malformed input, is an
// ElmError with a one-line reason: callers fall back to Python, which then
// gives the user-facing error.
//
// Validation that costs a pass over large payloads (UTF-8 of text, the latin1
// text that protocol 2 uses for bytes) is done when the payload is copied out,
// and for payloads never copied by validate_rest(), so that a file is read
// once. A Document is fully checked only after validate_rest().
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace elm::pickle {

inline constexpr uint32_t kNoObject = UINT32_MAX;

enum class Kind : uint8_t {
  None,
  Bool,    // i: 0 or 1
  Int,     // i (Python ints in int64 range, numpy integer scalars)
  Float,   // f (Python floats, numpy float scalars)
  Str,     // p, n bytes: UTF-8 (protocol 2+ unicode) or latin1 (a Python 2 str)
  Bytes,   // p, n bytes: raw, or UTF-8 text whose code points are the bytes
  Tuple,   // a: first item in the item pool, n items
  List,    // a: container
  Dict,    // a: container (key, value pairs in insertion order)
  Global,  // a: which known callable (GlobalId)
  Dtype,   // a: dtype table index
  Array,   // a: array table index
};

enum class GlobalId : uint8_t { Reconstruct, NdArray, Dtype, Scalar, FromBuffer, CodecsEncode, Bytes };

// Object flags.
inline constexpr uint8_t kLatin1Text = 1;   // Str: a Python 2 str (bytes are code points)
inline constexpr uint8_t kFromUtf8 = 2;     // Bytes: n bytes of UTF-8 text, each code point one byte
inline constexpr uint8_t kNumpyScalar = 4;  // Int/Float/Bool: made by numpy's scalar()
inline constexpr uint8_t kUnsigned64 = 8;   // Int: a numpy uint64 scalar (value may not fit int64)

struct Object {
  Kind kind = Kind::None;
  uint8_t flags = 0;
  bool checked = false;  // Str/Bytes payload validated (UTF-8 / latin1)
  uint32_t a = 0;  // see Kind; Bytes kFromUtf8: the Str it encodes
  uint64_t n = 0;  // Str/Bytes: byte length (for kFromUtf8, of the text); Tuple: item count
  union {
    int64_t i;
    double f;
    const uint8_t* p;
  };
  Object() : i(0) {}
};

struct DtypeInfo {
  char kind = 'u';       // numpy kind: b i u f c S U V O
  uint32_t itemsize = 1;
  char byteorder = '=';  // '<', '>', '|', '='
  bool used = false;     // an array or scalar was made with it (a later BUILD would change them)
};

struct ArrayInfo {
  DtypeInfo dtype;
  uint32_t ndim = 1;
  uint64_t first_dim = 0;   // shape[0] (ndim >= 1)
  uint64_t size = 0;        // element count
  bool c_order = true;      // the payload's order is the C-order flattening
  uint32_t raw = kNoObject; // Bytes or Str object holding the payload (none when size is 0)
  bool validated = false;   // payload length (after decoding) checked against size
};

class Document {
 public:
  // Parses data[0, size); the buffer must outlive the Document. Throws
  // ElmError on anything unsupported or malformed.
  Document(const uint8_t* data, size_t size);

  uint32_t root() const { return root_; }
  const Object& at(uint32_t id) const { return objects_[id]; }
  // Tuple/list items, or a dict's key, value pairs flattened.
  std::span<const uint32_t> items(uint32_t id) const;
  // The value of the dict entry whose key is the str `key` (Python keeps the
  // last of repeated keys), or kNoObject.
  uint32_t find(uint32_t dict, std::string_view key) const;
  const ArrayInfo& array(uint32_t id) const { return arrays_[objects_[id].a]; }
  // Python's len() of a str (code points).
  uint64_t str_length(uint32_t id) const;

  // Array elements converted to double (C order), out[0, size). Throws for
  // dtypes other than bool/int/uint/float, big-endian data, or an order that
  // is not C.
  void array_to_double(uint32_t id, double* out);

  // Checks every payload not copied out yet (see the file comment).
  void validate_rest();

 private:
  void run();
  uint32_t add(const Object& o);
  uint32_t reduce(uint32_t callable, uint32_t args);
  void build(uint32_t inst, uint32_t state);
  void set_item(uint32_t dict_container, uint32_t key, uint32_t value);
  DtypeInfo& dtype_of(uint32_t id);
  uint64_t shape_size(uint32_t shape, ArrayInfo& info) const;
  void set_payload(ArrayInfo& info, uint32_t raw);
  void check_payload(ArrayInfo& info);
  // Latin1 bytes of a Bytes/Str payload (decoded into scratch when needed).
  const uint8_t* payload_bytes(uint32_t raw, uint64_t expected, std::vector<uint8_t>& scratch);

  const uint8_t* data_;
  size_t size_;
  std::vector<Object> objects_;
  std::vector<uint32_t> pool_;  // tuple items
  std::vector<std::vector<uint32_t>> containers_;
  std::vector<DtypeInfo> dtypes_;
  std::vector<ArrayInfo> arrays_;
  std::vector<uint8_t> scratch_;
  std::vector<uint32_t> pending_;      // long UTF-8 str and bytes-from-text objects, checked lazily
  std::vector<uint32_t> unvalidated_;  // arrays whose payload length needs decoding to check
  uint32_t root_ = kNoObject;
};

// A read-only memory map of a whole file. Throws ElmError.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace elm::pickle
