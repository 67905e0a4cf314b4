#include "gpu/hf_checkpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/internal/hf_names.hpp"
#include "gpu/safetensors.hpp"
#include "messages/json.hpp"

namespace sy::gpu {

namespace {

error werr(const std::string& m) {
  return make_error("weights", m);
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i)
    r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

result<std::string> read_text(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return werr(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A read-only private mapping of a whole file.
class mapped_file {
public:
  static result<std::unique_ptr<mapped_file>> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return werr(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return werr(path + ": cannot stat: " + std::strerror(e));
    }
    auto f = std::unique_ptr<mapped_file>(new mapped_file);
    f->path_ = path;
    f->size_ = static_cast<std::size_t>(st.st_size);
    if (f->size_ > 0) {
      void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        return werr(path + ": cannot map: " + std::strerror(e));
      }
      f->data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
    return f;
  }
  ~mapped_file() {
    if (data_)
      ::munmap(const_cast<std::byte*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }

private:
  mapped_file() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// --- element conversion -------------------------------------------------------------------------------

template <dtype S>
inline float load(const std::byte* p) {
  if constexpr (S == dtype::f32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  } else {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    if constexpr (S == dtype::f16)
      return f16_to_f32(h);
    else
      return bf16_to_f32(h);
  }
}

template <dtype D>
inline void store(std::byte* p, float v) {
  if constexpr (D == dtype::f32) {
    std::memcpy(p, &v, 4);
  } else {
    std::uint16_t h = D == dtype::f16 ? f32_to_f16(v) : f32_to_bf16(v);
    std::memcpy(p, &h, 2);
  }
}

constexpr std::size_t size_of(dtype t) {
  return t == dtype::f32 ? 4 : 2;
}

/// Straight rows: src rows of `src_cols` elements, starting at row `row0`; copies rows [rb, re) x cols
/// [a, b) to dst rows of `dst_stride` elements at column `dcol`.
template <dtype S, dtype D>
void copy_rows(const std::byte* src, std::int64_t src_cols, std::int64_t row0, std::int64_t rb, std::int64_t re,
               std::int64_t a, std::int64_t b, std::byte* dst, std::int64_t dst_stride, std::int64_t dcol) {
  constexpr std::size_t ss = size_of(S), ds = size_of(D);
  for (std::int64_t r = rb; r < re; ++r) {
    const std::byte* s = src + static_cast<std::size_t>((r + row0) * src_cols + a) * ss;
    std::byte* d = dst + static_cast<std::size_t>((r - rb) * dst_stride + dcol) * ds;
    if constexpr (S == D) {
      std::memcpy(d, s, static_cast<std::size_t>(b - a) * ss);
    } else {
      for (std::int64_t i = 0; i < b - a; ++i)
        store<D>(d + i * ds, load<S>(s + i * ss));
    }
  }
}

/// Transposed: src is [width, rows] (torch nn.Linear [out, in]); canonical (r, c) = src(c, r).
template <dtype S, dtype D>
void copy_transposed(const std::byte* src, std::int64_t src_cols, std::int64_t rb, std::int64_t re,
                     std::int64_t a, std::int64_t b, std::byte* dst, std::int64_t dst_stride, std::int64_t dcol) {
  constexpr std::size_t ss = size_of(S), ds = size_of(D);
  constexpr std::int64_t tile = 16; // 16 src rows + 16 dst rows: few pages per tile (TLB), both in L1
  for (std::int64_t c0 = a; c0 < b; c0 += tile)
    for (std::int64_t r0 = rb; r0 < re; r0 += tile) {
      const std::int64_t c1 = std::min(c0 + tile, b), r1 = std::min(r0 + tile, re);
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::byte* s = src + static_cast<std::size_t>(c * src_cols) * ss;
        for (std::int64_t r = r0; r < r1; ++r) {
          std::byte* d = dst + static_cast<std::size_t>((r - rb) * dst_stride + dcol + (c - a)) * ds;
          if constexpr (S == D)
            std::memcpy(d, s + r * ss, ss);
          else
            store<D>(d, load<S>(s + r * ss));
        }
      }
    }
}

using rows_fn = void (*)(const std::byte*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, std::byte*, std::int64_t, std::int64_t);
using trans_fn = void (*)(const std::byte*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                          std::byte*, std::int64_t, std::int64_t);

template <dtype S>
rows_fn rows_for(dtype d) {
  return d == dtype::f32 ? copy_rows<S, dtype::f32> : d == dtype::f16 ? copy_rows<S, dtype::f16> : copy_rows<S, dtype::bf16>;
}
template <dtype S>
trans_fn trans_for(dtype d) {
  return d == dtype::f32   ? copy_transposed<S, dtype::f32>
         : d == dtype::f16 ? copy_transposed<S, dtype::f16>
                           : copy_transposed<S, dtype::bf16>;
}
rows_fn pick_rows(dtype s, dtype d) {
  return s == dtype::f32 ? rows_for<dtype::f32>(d) : s == dtype::f16 ? rows_for<dtype::f16>(d) : rows_for<dtype::bf16>(d);
}
trans_fn pick_trans(dtype s, dtype d) {
  return s == dtype::f32 ? trans_for<dtype::f32>(d) : s == dtype::f16 ? trans_for<dtype::f16>(d) : trans_for<dtype::bf16>(d);
}

// --- the source -------------------------------------------------------------------------------------------

struct located {
  const mapped_file* file = nullptr;
  const safetensors_entry* entry = nullptr;
  std::uint64_t data_start = 0; // of the entry's file
};

struct resolved_part {
  const std::byte* data = nullptr; // first element of the HF tensor
  dtype type = dtype::f32;
  std::int64_t width = 0;          // canonical columns
  std::int64_t src_cols = 0;       // row length of the HF tensor
  std::int64_t row_offset = 0;
  bool transpose = false;
};

struct recipe {
  std::vector<std::int64_t> shape;
  std::vector<resolved_part> parts;
};

class hf_source final : public tensor_source {
public:
  std::vector<std::unique_ptr<mapped_file>> files;
  std::vector<safetensors_header> headers;   // parallel to files
  std::map<std::string, recipe> recipes;     // canonical name -> parts
  std::vector<tensor_desc> tensors;          // weight_tensors of the opened spec
  std::string dir;

  status check(const model_spec& spec) const override {
    auto want = weight_tensors(spec);
    for (const auto& t : want) {
      auto it = recipes.find(t.name);
      if (it == recipes.end())
        return werr(dir + ": the checkpoint was opened for another architecture: it has no tensor for '" + t.name +
                    "' of model '" + spec.name + "'");
      if (it->second.shape != t.shape)
        return werr(dir + ": tensor '" + t.name + "' has shape " + shape_str(it->second.shape) + " in the checkpoint, "
                    "model '" + spec.name + "' needs " + shape_str(t.shape));
    }
    if (want.size() != recipes.size())
      return werr(dir + ": the checkpoint holds " + std::to_string(recipes.size()) + " tensors, model '" + spec.name +
                  "' needs " + std::to_string(want.size()) + " (opened for another architecture)");
    return {};
  }

  status read(const tensor_desc& t, const tensor_slice& s, dtype type, std::byte* dst) const override {
    auto it = recipes.find(t.name);
    if (it == recipes.end())
      return werr(dir + ": no tensor '" + t.name + "' in the checkpoint");
    const recipe& rc = it->second;
    const std::int64_t rows = rc.shape.size() == 2 ? rc.shape[0] : 1, cols = rc.shape.back();
    if (s.row_begin < 0 || s.row_end > rows || s.row_begin > s.row_end)
      return werr(dir + ": tensor '" + t.name + "': rows [" + std::to_string(s.row_begin) + ", " +
                  std::to_string(s.row_end) + ") outside " + shape_str(rc.shape));
    const std::int64_t stride = s.width();
    std::int64_t k = 0; // dst column of the current segment
    for (auto [c0, n] : s.cols) {
      if (c0 < 0 || n < 0 || c0 + n > cols)
        return werr(dir + ": tensor '" + t.name + "': columns [" + std::to_string(c0) + ", " + std::to_string(c0 + n) +
                    ") outside " + shape_str(rc.shape));
      std::int64_t pc = 0; // canonical column where the part starts
      for (const auto& p : rc.parts) {
        const std::int64_t a = std::max(c0, pc), b = std::min(c0 + n, pc + p.width);
        if (a < b) {
          const std::int64_t dcol = k + (a - c0);
          if (p.transpose)
            pick_trans(p.type, type)(p.data, p.src_cols, s.row_begin, s.row_end, a - pc, b - pc, dst, stride, dcol);
          else
            pick_rows(p.type, type)(p.data, p.src_cols, p.row_offset, s.row_begin, s.row_end, a - pc, b - pc, dst,
                                    stride, dcol);
        }
        pc += p.width;
      }
      k += n;
    }
    return {};
  }
};

std::string base_name(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  auto slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

/// The safetensors files of the folder: the index's shards, else model.safetensors.
result<std::vector<std::string>> checkpoint_files(const std::string& dir,
                                                  std::map<std::string, std::string>& weight_map) {
  const std::string index = dir + "/model.safetensors.index.json";
  if (is_file(index)) {
    auto text = read_text(index);
    if (!text)
      return text.err();
    auto doc = json::parse(*text);
    if (!doc)
      return werr(index + ": " + doc.err().message);
    const json::value* wm = doc->is_object() ? doc->get("weight_map") : nullptr;
    if (!wm || !wm->is_object())
      return werr(index + ": key 'weight_map': expected an object {tensor: file}, found " +
                  (wm ? json::write(*wm) : std::string{"none"}));
    std::vector<std::string> files;
    for (const auto& [name, f] : wm->as_object()) {
      if (!f.is_string() || f.as_string().empty() || f.as_string().find('/') != std::string::npos)
        return werr(index + ": weight_map['" + name + "']: expected a file name in the folder, found " + json::write(f));
      weight_map[name] = f.as_string();
      if (std::find(files.begin(), files.end(), f.as_string()) == files.end())
        files.push_back(f.as_string());
    }
    if (files.empty())
      return werr(index + ": key 'weight_map' is empty");
    std::sort(files.begin(), files.end());
    return files;
  }
  if (is_file(dir + "/model.safetensors"))
    return std::vector<std::string>{"model.safetensors"};
  std::string hint = is_file(dir + "/pytorch_model.bin")
                       ? " (pytorch_model.bin is not read: save the model with safe_serialization=True)"
                       : "";
  return werr(dir + ": no model.safetensors or model.safetensors.index.json" + hint);
}

} // namespace

bool is_hf_folder(const std::string& path) {
  return is_dir(path) && is_file(path + "/config.json");
}

result<hf_checkpoint> open_hf_checkpoint(const std::string& dir_arg, std::optional<dtype> type) {
  std::string dir = dir_arg;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  if (!is_dir(dir))
    return werr(dir + ": not a directory (a Hugging Face model folder with config.json is expected)");
  const std::string cfg_path = dir + "/config.json";
  auto text = read_text(cfg_path);
  if (!text)
    return text.err();
  auto cfg = parse_hf_config(*text, cfg_path, base_name(dir));
  if (!cfg)
    return cfg.err();
  hf_checkpoint ck;
  ck.dir = dir;
  ck.config = std::move(*cfg);
  model_spec& spec = ck.config.spec;
  if (type)
    spec.type = *type;
  ck.has_tokenizer = is_file(dir + "/tokenizer.json");

  std::map<std::string, std::string> weight_map;
  auto names = checkpoint_files(dir, weight_map);
  if (!names)
    return names.err();
  auto src = std::make_shared<hf_source>();
  src->dir = dir;
  std::map<std::string, located> table;
  for (const auto& n : *names) {
    const std::string path = dir + "/" + n;
    auto f = mapped_file::open(path);
    if (!f)
      return f.err();
    auto h = parse_safetensors_header((*f)->view(), (*f)->size(), path);
    if (!h)
      return h.err();
    ck.files.push_back(path);
    ck.file_bytes += (*f)->size();
    src->files.push_back(std::move(*f));
    src->headers.push_back(std::move(*h));
  }
  for (std::size_t i = 0; i < src->files.size(); ++i)
    for (const auto& e : src->headers[i].entries) {
      auto [it, fresh] = table.emplace(e.name, located{src->files[i].get(), &e, src->headers[i].data_start});
      if (!fresh)
        return werr(dir + ": tensor '" + e.name + "' is in both " + it->second.file->path() + " and " +
                    src->files[i]->path());
    }
  for (const auto& [name, file] : weight_map) {
    auto it = table.find(name);
    if (it == table.end() || base_name(it->second.file->path()) != file)
      return werr(dir + "/model.safetensors.index.json: weight_map names tensor '" + name + "' in " + file +
                  ", which does not hold it");
  }

  // The body prefix, found from the embedding's name.
  internal::hf_names names_map;
  bool found = false;
  const std::string emb = internal::hf_embedding_name(spec.fam);
  std::string tried;
  for (const auto& p : internal::hf_prefixes(spec.fam)) {
    tried += (tried.empty() ? "'" : ", '") + p + emb + "'";
    if (!found && table.count(p + emb)) {
      names_map.prefix = p;
      found = true;
    }
  }
  const std::string where = ck.files.size() == 1 ? ck.files[0] : dir + " (" + std::to_string(ck.files.size()) + " files)";
  if (!found)
    return werr(where + ": no token embedding " + tried + " for a " + ck.config.model_type + " checkpoint");
  if (spec.fam == family::bert)
    spec.pooler = table.count(names_map.prefix + "pooler.dense.weight") > 0;

  // Resolve every canonical tensor to its parts.
  std::set<std::string> used;
  for (const auto& t : weight_tensors(spec)) {
    recipe rc;
    rc.shape = t.shape;
    const std::int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    std::int64_t covered = 0;
    for (const auto& part : names_map.parts(spec, t)) {
      auto it = table.find(part.name);
      if (it == table.end() && part.name.find("LayerNorm.") != std::string::npos) { // old BERT: gamma / beta
        std::string alt = part.name.substr(0, part.name.rfind('.')) +
                          (part.name.substr(part.name.rfind('.')) == ".weight" ? ".gamma" : ".beta");
        it = table.find(alt);
      }
      if (it == table.end())
        return werr(where + ": missing tensor '" + part.name + "' (model tensor '" + t.name + "')");
      const located& loc = it->second;
      const safetensors_entry& e = *loc.entry;
      const std::string in = loc.file->path() + ": tensor '" + e.name + "'";
      if (!e.type)
        return werr(in + ": dtype " + e.dtype_name + " where a float tensor (F32, F16, BF16) is needed");
      std::vector<std::int64_t> want;
      if (part.transpose)
        want = {part.width, rows};
      else if (t.shape.size() == 2)
        want = {rows + part.row_offset, part.width};
      else
        want = {part.width};
      if (e.shape != want)
        return werr(in + " has shape " + shape_str(e.shape) + ", expected " + shape_str(want) + " (model tensor '" +
                    t.name + "' " + shape_str(t.shape) + ")");
      resolved_part rp;
      rp.data = loc.file->data() + loc.data_start + e.begin;
      rp.type = *e.type;
      rp.width = part.width;
      rp.src_cols = part.transpose ? rows : part.width;
      rp.row_offset = part.row_offset;
      rp.transpose = part.transpose;
      rc.parts.push_back(rp);
      covered += part.width;
      used.insert(e.name);
    }
    if (covered != t.shape.back())
      return werr(where + ": internal: parts of '" + t.name + "' cover " + std::to_string(covered) + " of " +
                  std::to_string(t.shape.back()) + " columns");
    src->recipes.emplace(t.name, std::move(rc));
  }
  // Everything else must be a non-float buffer or known not to change the model.
  for (const auto& [name, loc] : table) {
    if (used.count(name) || !loc.entry->type || names_map.ignorable(spec, name))
      continue;
    return werr(loc.file->path() + ": tensor '" + name + "' (" + loc.entry->dtype_name + " " +
                shape_str(loc.entry->shape) + ") is not used by the " + ck.config.architecture +
                " model that config.json describes; serving without it would compute another model");
  }
  src->tensors = weight_tensors(spec);
  ck.source = std::move(src);
  return ck;
}

} // namespace sy::gpu
