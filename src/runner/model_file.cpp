// .vqm writing and reading (layout in model_file.h and docs/file_formats.md).
#include "runner/model_file.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/byte_codec.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "io/gguf_write.h"
#include "io/mapped_file.h"
#include "math/prng.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

namespace {

constexpr char kMagic[8] = {'V', 'Q', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr std::size_t kHeaderBytes = 32, kSectionHeaderBytes = 16, kTrailerBytes = 4, kPayloadAlign = 64;

constexpr std::uint32_t kTagDir = make_tag("QDIR"), kTagGguf = make_tag("GGUF"), kTagMatrix = make_tag("QMAT");

// CRC of the records of fixed probe vectors: differs when this build's codebooks, rotation or
// record layout differ from the writer's.
std::uint32_t fingerprint(const Quantizer& q) {
  constexpr std::size_t kProbes = 2;
  SplitMix64 g(0x5EEDF00DCAFEull);
  std::vector<float> x(kProbes * q.dim());
  for (float& v : x) v = static_cast<float>(g.normal());
  std::vector<std::uint8_t> codes(kProbes * q.code_size());
  q.encode(kProbes, x.data(), codes.data());
  const std::uint64_t size = q.code_size();
  return crc32(codes.data(), codes.size(), crc32(&size, sizeof size));
}

// ---- writing ----

struct OutSection {
  std::uint32_t tag;
  const std::uint8_t* payload;
  std::size_t bytes;
};

// Emits the image in pieces (emit(pointer, bytes)); payloads are written from where they are.
void write_image(const LlamaModel& model, const std::function<void(const void*, std::size_t)>& emit) {
  if (!model.weights_quantized()) throw std::invalid_argument("the model's weights are not quantized");
  const auto matrices = model.matrices();
  std::vector<const Quantizer*> quantizers;
  ByteWriter dir;
  dir.str(model.weight_scheme().name());
  dir.u64(model.weight_seed());
  for (const auto& [name, w] : matrices)
    if (std::find(quantizers.begin(), quantizers.end(), w->quantizer) == quantizers.end())
      quantizers.push_back(w->quantizer);
  dir.u32(static_cast<std::uint32_t>(quantizers.size()));
  for (const Quantizer* q : quantizers) {
    dir.u64(q->dim());
    dir.u64(q->code_size());
    dir.u32(fingerprint(*q));
  }
  dir.u32(static_cast<std::uint32_t>(matrices.size()));
  std::set<std::string> quantized_names;
  for (const auto& [name, w] : matrices) {
    dir.str(name);
    dir.u64(w->rows);
    dir.u64(w->cols);
    dir.u32(
        static_cast<std::uint32_t>(std::find(quantizers.begin(), quantizers.end(), w->quantizer) - quantizers.begin()));
    quantized_names.insert(name);
  }
  // Metadata and every tensor the matrices do not replace, as loaded.
  std::vector<GgufTensorOut> kept;
  for (const GgufTensor& t : model.file().tensors())
    if (!quantized_names.count(t.name)) kept.push_back({t.name, t.dims, t.type, t.data, t.bytes});
  const std::vector<std::uint8_t> gguf = write_gguf(model.file().metadata(), kept, model.file().alignment());

  std::vector<OutSection> sections{{kTagDir, dir.bytes.data(), dir.bytes.size()}, {kTagGguf, gguf.data(), gguf.size()}};
  for (const auto& [name, w] : matrices) sections.push_back({kTagMatrix, w->data, w->rows * w->row_bytes});
  const auto pad_at = [](std::uint64_t offset) {
    return (kPayloadAlign - (offset + kSectionHeaderBytes) % kPayloadAlign) % kPayloadAlign;
  };
  std::uint64_t total = kHeaderBytes;
  for (const OutSection& s : sections) total += kSectionHeaderBytes + pad_at(total) + s.bytes + kTrailerBytes;

  ByteWriter head;
  head.put(kMagic, sizeof kMagic);
  head.u32(kModelFileVersion);
  head.u32(static_cast<std::uint32_t>(sections.size()));
  head.u64(total);
  head.u32(0);
  head.u32(crc32(head.bytes.data(), head.bytes.size()));
  emit(head.bytes.data(), head.bytes.size());
  std::uint64_t offset = kHeaderBytes;
  for (const OutSection& s : sections) {
    ByteWriter h;
    const std::size_t pad = pad_at(offset);
    h.u32(s.tag);
    h.u32(static_cast<std::uint32_t>(pad));
    h.u64(s.bytes);
    h.bytes.resize(h.bytes.size() + pad, 0);
    const std::uint32_t crc = crc32(s.payload, s.bytes, crc32(h.bytes.data(), h.bytes.size()));
    emit(h.bytes.data(), h.bytes.size());
    emit(s.payload, s.bytes);
    emit(&crc, 4);
    offset += h.bytes.size() + s.bytes + kTrailerBytes;
  }
  if (offset != total) throw std::logic_error("model file: size mismatch");
}

// ---- reading ----

struct Source {
  std::shared_ptr<const void> owner;
  const std::uint8_t* data;
  std::uint64_t size;
  std::string name;
  [[noreturn]] void fail(const std::string& what) const { throw FileFormatError("model file " + name + ": " + what); }
};

struct Section {
  std::uint32_t tag = 0;
  const std::uint8_t* payload = nullptr;
  std::uint64_t bytes = 0;
};

// The section at `offset` (its sizes checked against the file, its CRC verified); advances offset.
Section read_section(const Source& src, std::uint64_t& offset, std::uint32_t want) {
  if (src.size - offset < kSectionHeaderBytes + kTrailerBytes)
    src.fail("truncated: no room for section " + tag_name(want) + " at offset " + std::to_string(offset));
  ByteReader r(src.data + offset, kSectionHeaderBytes, "model file " + src.name);
  Section s;
  s.tag = r.u32("section tag");
  const std::uint32_t pad = r.u32("section padding");
  s.bytes = r.u64("section size");
  const std::string where = "section " + tag_name(s.tag) + " at offset " + std::to_string(offset);
  if (s.tag != want) src.fail(where + ": expected " + tag_name(want));
  if (pad >= kPayloadAlign) src.fail(where + " has padding " + std::to_string(pad) + " (at most 63)");
  const std::uint64_t room = src.size - offset - kSectionHeaderBytes - kTrailerBytes;
  if (pad > room || s.bytes > room - pad)
    src.fail(where + " claims " + std::to_string(s.bytes) + " bytes, only " +
             std::to_string(room - std::min<std::uint64_t>(pad, room)) + " remain (truncated?)");
  const std::uint8_t* head = src.data + offset;
  s.payload = head + kSectionHeaderBytes + pad;
  std::uint32_t stored;
  std::memcpy(&stored, s.payload + s.bytes, 4);
  if (stored != crc32(s.payload, s.bytes, crc32(head, kSectionHeaderBytes + pad)))
    src.fail(where + ": checksum mismatch (corrupted)");
  for (std::size_t i = 0; i < pad; ++i)
    if (head[kSectionHeaderBytes + i] != 0) src.fail(where + ": non-zero padding");
  offset += kSectionHeaderBytes + pad + s.bytes + kTrailerBytes;
  return s;
}

struct StoredQuantizer {
  std::uint64_t dim = 0, code_size = 0;
  std::uint32_t fingerprint = 0;
};
struct StoredMatrix {
  std::string name;
  std::uint64_t rows = 0, cols = 0;
  std::uint32_t quantizer = 0;
};

// The header's section count, after checking magic, version, checksum, flags and file size.
std::uint32_t read_header(const Source& src) {
  if (src.size < kHeaderBytes) src.fail("too short for the header (" + std::to_string(src.size) + " bytes)");
  if (std::memcmp(src.data, kMagic, sizeof kMagic) != 0) src.fail("bad magic (not a veloxquant model file)");
  ByteReader hr(src.data + 8, kHeaderBytes - 8, "model file " + src.name + " header");
  const std::uint32_t version = hr.u32("version");
  // The version comes first: another version may lay out the rest differently.
  if (version != kModelFileVersion)
    src.fail("unsupported format version " + std::to_string(version) + " (this build reads version " +
             std::to_string(kModelFileVersion) + ")");
  const std::uint32_t section_count = hr.u32("section count");
  const std::uint64_t file_bytes = hr.u64("file size");
  const std::uint32_t flags = hr.u32("flags");
  const std::uint32_t crc = hr.u32("header checksum");
  if (crc != crc32(src.data, kHeaderBytes - 4)) src.fail("header checksum mismatch (corrupted)");
  if (flags != 0) src.fail("unknown header flags " + std::to_string(flags));
  if (file_bytes != src.size)
    src.fail("is " + std::to_string(src.size) + " bytes but its header says " + std::to_string(file_bytes) +
             " (truncated or extended)");
  if (section_count < 2 || section_count > (src.size - kHeaderBytes) / (kSectionHeaderBytes + kTrailerBytes))
    src.fail("section count " + std::to_string(section_count) + " does not fit the file size");
  return section_count;
}

// The QDIR section: scheme, seed, quantizers and matrices, each checked against the file size.
struct Directory {
  WeightScheme scheme;
  std::uint64_t seed = 0;
  std::vector<StoredQuantizer> quantizers;
  std::vector<StoredMatrix> matrices;
};

std::vector<StoredQuantizer> read_quantizers(const Source& src, ByteReader& r) {
  const std::uint32_t n_quantizers = r.u32("quantizer count");
  if (n_quantizers == 0 || n_quantizers > r.remaining() / 20)
    r.fail("quantizer count " + std::to_string(n_quantizers) + " does not fit");
  std::vector<StoredQuantizer> stored_q(n_quantizers);
  for (StoredQuantizer& q : stored_q) {
    q.dim = r.u64("quantizer dim");
    q.code_size = r.u64("record size");
    q.fingerprint = r.u32("fingerprint");
    if (q.dim == 0 || q.dim > kMaxWeightBlock || ((q.dim & (q.dim - 1)) != 0 && q.dim > kMaxDenseRecordDim))
      r.fail("record width " + std::to_string(q.dim) + " is out of range");
    if (q.code_size == 0 || q.code_size > src.size)
      r.fail("record size " + std::to_string(q.code_size) + " does not fit the file");
    for (const StoredQuantizer& other : stored_q)
      if (&other != &q && other.dim == q.dim) r.fail("two quantizers of width " + std::to_string(q.dim));
  }
  return stored_q;
}

// One matrix entry; its shape is checked against its quantizer, the scheme and the file size.
StoredMatrix read_matrix_entry(const Source& src, ByteReader& r, const Directory& dir) {
  StoredMatrix m;
  m.name = r.str("matrix name");
  m.rows = r.u64("rows");
  m.cols = r.u64("cols");
  m.quantizer = r.u32("quantizer index");
  if (m.quantizer >= dir.quantizers.size())
    r.fail("matrix '" + m.name + "' names quantizer " + std::to_string(m.quantizer));
  const StoredQuantizer& q = dir.quantizers[m.quantizer];
  // cols ≥ 1 record width and records ≤ file: bound rows before multiplying.
  if (m.cols == 0 || m.cols % q.dim != 0)
    r.fail("matrix '" + m.name + "' has " + std::to_string(m.cols) + " columns, not a multiple of its record width " +
           std::to_string(q.dim));
  // Bound each factor by the file before multiplying: row_bytes ≤ size, rows · row_bytes ≤ size.
  const std::uint64_t blocks = m.cols / q.dim;
  if (blocks > src.size / q.code_size)
    r.fail("matrix '" + m.name + "' (" + std::to_string(m.cols) + " columns) does not fit the file");
  const std::uint64_t row_bytes = blocks * q.code_size;
  if (m.rows == 0 || m.rows > src.size / row_bytes)
    r.fail("matrix '" + m.name + "' (" + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
           ") does not fit the file");
  std::size_t want_dim = 0;
  try {
    want_dim = dir.scheme.record_dim(static_cast<std::size_t>(m.cols));
  } catch (const std::invalid_argument& e) {
    r.fail("matrix '" + m.name + "': " + e.what());
  }
  if (want_dim != q.dim)
    r.fail("matrix '" + m.name + "' has records of width " + std::to_string(q.dim) + ", its scheme says " +
           std::to_string(want_dim));
  return m;
}

Directory read_directory(const Source& src, const Section& section, std::uint32_t section_count) {
  ByteReader r(section.payload, section.bytes, "model file " + src.name + " section QDIR");
  Directory dir;
  try {
    dir.scheme = parse_weight_scheme(r.str("weight scheme"));
  } catch (const std::invalid_argument& e) {
    r.fail(std::string("weight scheme: ") + e.what());
  }
  dir.seed = r.u64("seed");
  dir.quantizers = read_quantizers(src, r);
  const std::uint32_t n_matrices = r.u32("matrix count");
  if (n_matrices != section_count - 2)
    r.fail(std::to_string(n_matrices) + " matrices but " + std::to_string(section_count - 2) + " matrix sections");
  if (n_matrices > r.remaining() / 24) r.fail("matrix count " + std::to_string(n_matrices) + " does not fit");
  std::set<std::string> names;
  std::vector<bool> used(dir.quantizers.size(), false);
  for (std::uint32_t i = 0; i < n_matrices; ++i) {
    StoredMatrix m = read_matrix_entry(src, r, dir);
    if (!names.insert(m.name).second) r.fail("duplicate matrix '" + m.name + "'");
    used[m.quantizer] = true;
    dir.matrices.push_back(std::move(m));
  }
  r.expect_end();
  for (std::size_t i = 0; i < used.size(); ++i)
    if (!used[i]) r.fail("quantizer " + std::to_string(i) + " is used by no matrix");
  return dir;
}

// The quantizers the directory names, each checked to encode as it did when the file was written.
std::vector<std::unique_ptr<Quantizer>> make_stored_quantizers(const Source& src, const Directory& dir) {
  std::vector<std::unique_ptr<Quantizer>> quantizers;
  for (const StoredQuantizer& sq : dir.quantizers) {
    std::unique_ptr<Quantizer> q;
    try {
      q = make_quantizer(dir.scheme.format, static_cast<std::size_t>(sq.dim), dir.seed);
    } catch (const std::invalid_argument& e) {
      src.fail(std::string("quantizer: ") + e.what());
    }
    if (q->code_size() != sq.code_size || fingerprint(*q) != sq.fingerprint)
      src.fail("format '" + dir.scheme.format + "' at width " + std::to_string(sq.dim) +
               " encodes differently in this build (other codebooks, rotation or record layout)");
    quantizers.push_back(std::move(q));
  }
  return quantizers;
}

LlamaModel load_from(const Source& src) {
  const std::uint32_t section_count = read_header(src);
  std::uint64_t offset = kHeaderBytes;
  const Directory dir = read_directory(src, read_section(src, offset, kTagDir), section_count);

  const Section gguf_section = read_section(src, offset, kTagGguf);
  GgufFile gguf = [&] {
    try {
      return GgufFile::from_memory(src.owner, gguf_section.payload, gguf_section.bytes,
                                   "image in model file " + src.name);
    } catch (const std::runtime_error& e) {
      src.fail(std::string("section GGUF: ") + e.what());
    }
  }();

  std::vector<const std::uint8_t*> records;
  for (const StoredMatrix& m : dir.matrices) {
    const Section s = read_section(src, offset, kTagMatrix);
    const StoredQuantizer& q = dir.quantizers[m.quantizer];
    const std::uint64_t want = m.rows * (m.cols / q.dim) * q.code_size;
    if (s.bytes != want)
      src.fail("matrix '" + m.name + "' has " + std::to_string(s.bytes) + " record bytes, its shape needs " +
               std::to_string(want));
    records.push_back(s.payload);
  }
  if (offset != src.size) src.fail(std::to_string(src.size - offset) + " unexpected bytes after the last section");

  // Everything is present and checked: build the quantizers and the model.
  std::vector<std::unique_ptr<Quantizer>> quantizers = make_stored_quantizers(src, dir);
  std::map<std::string, WeightView> views;
  for (std::size_t i = 0; i < dir.matrices.size(); ++i) {
    const StoredMatrix& m = dir.matrices[i];
    const Quantizer* q = quantizers[m.quantizer].get();
    views[m.name] = WeightView{GgmlType::kF32,
                               static_cast<std::size_t>(m.rows),
                               static_cast<std::size_t>(m.cols),
                               static_cast<std::size_t>(m.cols / q->dim() * q->code_size()),
                               records[i],
                               q};
  }
  try {
    return LlamaModel::from_parts(std::move(gguf), views, std::move(quantizers), dir.scheme, dir.seed);
  } catch (const std::runtime_error& e) {
    src.fail(e.what());
  } catch (const std::invalid_argument& e) {
    src.fail(e.what());
  }
}

}  // namespace

std::vector<std::uint8_t> serialize_quantized_model(const LlamaModel& model) {
  std::vector<std::uint8_t> image;
  write_image(model, [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    image.insert(image.end(), b, b + n);
  });
  return image;
}

void save_quantized_model(const LlamaModel& model, const std::string& path) {
  write_file_atomically(path, "cannot save model", [&](const ByteSink& sink) { write_image(model, sink); });
}

LlamaModel load_quantized_model(const std::string& path) {
  const std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  return load_from({file, file->data(), file->size(), "'" + path + "'"});
}

LlamaModel parse_quantized_model(std::vector<std::uint8_t> image) {
  auto owned = std::make_shared<const std::vector<std::uint8_t>>(std::move(image));
  return load_from({owned, owned->data(), owned->size(), "<memory>"});
}

bool is_quantized_model_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof kMagic] = {};
  f.read(magic, sizeof magic);
  return f && std::memcmp(magic, kMagic, sizeof magic) == 0;
}

}  // namespace veloxquant
