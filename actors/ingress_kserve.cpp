#include "actors/ingress_kserve.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "messages/json.hpp"

namespace sy::actors {
namespace {

result<kserve_request> bad(std::string why) {
  return make_error("invalid", std::move(why));
}

/// Flattens nested row-major data (KServe allows [[1, 2]] as well as [1, 2]) into `out`.
bool flatten(const json::value& v, std::vector<const json::value*>& out, int depth, std::size_t limit) {
  if (!v.is_array()) {
    out.push_back(&v);
    return out.size() <= limit;
  }
  if (depth > 4)
    return false;
  for (const auto& e : v.as_array())
    if (!flatten(e, out, depth + 1, limit))
      return false;
  return true;
}

} // namespace

bool looks_like_kserve(const std::string& body, bool has_header_length) {
  if (has_header_length)
    return true;
  auto doc = json::parse(body, 32);
  return doc.ok() && doc->is_object() && doc->get("inputs") != nullptr;
}

result<kserve_request> parse_kserve_infer(const std::string& body, std::optional<std::size_t> header_length,
                                          const ingress_limits& limits) {
  std::size_t json_size = header_length.value_or(body.size());
  if (json_size > body.size())
    return bad(fmt::format("Inference-Header-Content-Length: {} exceeds the body's {} bytes", json_size, body.size()));
  auto doc = json::parse(std::string_view(body).substr(0, json_size), 32);
  if (!doc)
    return bad("malformed JSON: " + doc.err().message);
  if (!doc->is_object())
    return bad(fmt::format("body: expected an object, found {}", json::kind_name(doc->type())));
  kserve_request r;
  if (const auto* id = doc->get("id"); id && id->is_string())
    r.id = id->as_string();
  if (const auto* p = doc->get("parameters"); p && p->is_object()) {
    if (const auto* b = p->get("binary_data_output"); b && b->is_bool())
      r.binary_output = b->as_bool();
    if (const auto* o = p->get("output"); o && !o->is_null()) {
      if (!o->is_string())
        return bad(fmt::format("'parameters'.output: expected a string (an output kind), found {}",
                               json::kind_name(o->type())));
      r.output = o->as_string();
    }
  }
  if (const auto* outs = doc->get("outputs"); outs && outs->is_array()) {
    for (const auto& o : outs->as_array()) {
      if (!o.is_object())
        return bad("'outputs': expected objects");
      const auto* name = o.get("name");
      if (!name || !name->is_string() || name->as_string() != kserve_output_name)
        return bad(fmt::format("'outputs': the model has one output, '{}'", kserve_output_name));
      if (const auto* p = o.get("parameters"); p && p->is_object())
        if (const auto* b = p->get("binary_data"); b && b->is_bool())
          r.binary_output = b->as_bool();
    }
  }
  const auto* inputs = doc->get("inputs");
  if (!inputs)
    return bad("body: missing key 'inputs' (one INT64 or INT32 tensor of token ids)");
  if (!inputs->is_array() || inputs->as_array().size() != 1)
    return bad(fmt::format("'inputs': expected one tensor (the token ids), found {}",
                           inputs->is_array() ? std::to_string(inputs->as_array().size()) + " tensors"
                                              : std::string(json::kind_name(inputs->type()))));
  const auto& in = inputs->as_array()[0];
  if (!in.is_object())
    return bad(fmt::format("'inputs'[0]: expected an object, found {}", json::kind_name(in.type())));
  const auto* dtype = in.get("datatype");
  if (!dtype || !dtype->is_string() || (dtype->as_string() != "INT64" && dtype->as_string() != "INT32"))
    return bad(fmt::format("'inputs'[0].datatype: expected \"INT64\" or \"INT32\", found {}",
                           dtype && dtype->is_string() ? json::quote(dtype->as_string())
                                                       : std::string(dtype ? json::kind_name(dtype->type()) : "nothing")));
  const auto* shape = in.get("shape");
  if (!shape || !shape->is_array() || shape->as_array().empty() || shape->as_array().size() > 2)
    return bad("'inputs'[0].shape: expected [n] or [1, n]");
  std::int64_t count = 1;
  for (std::size_t i = 0; i < shape->as_array().size(); ++i) {
    auto d = shape->as_array()[i].as_int64();
    if (!shape->as_array()[i].is_number() || !d || *d < 0 || *d > static_cast<std::int64_t>(limits.max_tokens) + 1)
      return bad(fmt::format("'inputs'[0].shape[{}]: expected a size of at most {}", i, limits.max_tokens));
    count *= *d;
  }
  if (shape->as_array().size() == 2 && *shape->as_array()[0].as_int64() != 1)
    return bad(fmt::format("'inputs'[0].shape: a batch of {} sequences; send one sequence per request",
                           *shape->as_array()[0].as_int64()));
  if (count == 0)
    return bad("'inputs'[0]: expected at least one token, found an empty tensor");
  if (count > static_cast<std::int64_t>(limits.max_tokens))
    return bad(fmt::format("'inputs'[0]: {} tokens exceed the limit of {}", count, limits.max_tokens));
  auto push = [&](std::int64_t t, std::size_t i) -> status {
    if (t < 0 || t > 2147483647)
      return make_error("invalid", fmt::format("'inputs'[0].data[{}]: expected a non-negative 32-bit token id, found {}", i, t));
    r.tokens.push_back(static_cast<std::int32_t>(t));
    return {};
  };
  const auto* params = in.get("parameters");
  const auto* bin_size = params && params->is_object() ? params->get("binary_data_size") : nullptr;
  if (bin_size) {
    auto n = bin_size->as_int64();
    std::size_t width = dtype->as_string() == "INT64" ? 8 : 4;
    if (!n || *n != count * static_cast<std::int64_t>(width))
      return bad(fmt::format("'inputs'[0].parameters.binary_data_size: expected {} bytes ({} x {}), found {}",
                             count * static_cast<std::int64_t>(width), count, dtype->as_string(),
                             bin_size->is_number() ? json::number(bin_size->as_number()) : "a non-number"));
    if (body.size() - json_size != static_cast<std::size_t>(*n))
      return bad(fmt::format("binary tensor data: expected {} bytes after the JSON header, found {}", *n,
                             body.size() - json_size));
    const char* p = body.data() + json_size;
    for (std::int64_t i = 0; i < count; ++i) {
      std::int64_t t = 0;
      if (width == 8) {
        std::memcpy(&t, p + i * 8, 8); // little-endian, as the extension specifies (and x86 is)
      } else {
        std::int32_t v;
        std::memcpy(&v, p + i * 4, 4);
        t = v;
      }
      if (auto st = push(t, static_cast<std::size_t>(i)); !st)
        return st.err();
    }
    return r;
  }
  const auto* data = in.get("data");
  if (!data)
    return bad("'inputs'[0]: missing key 'data' (or parameters.binary_data_size with binary tensor data)");
  std::vector<const json::value*> flat;
  if (!flatten(*data, flat, 0, static_cast<std::size_t>(count)))
    return bad(fmt::format("'inputs'[0].data: more than the {} elements of its shape", count));
  if (static_cast<std::int64_t>(flat.size()) != count)
    return bad(fmt::format("'inputs'[0].data: {} elements, but the shape holds {}", flat.size(), count));
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const auto& v = *flat[i];
    double x = v.as_number();
    if (!v.is_number() || x != std::floor(x))
      return bad(fmt::format("'inputs'[0].data[{}]: expected an integer, found {}", i,
                             v.is_number() ? json::number(x) : json::kind_name(v.type())));
    if (auto st = push(static_cast<std::int64_t>(x), i); !st)
      return st.err();
  }
  return r;
}

kserve_body render_kserve_response(const wire_response& w, const std::string& model, const kserve_request& r) {
  std::string dtype = w.output.dtype == "f32" ? "FP32" : w.output.dtype == "i64" ? "INT64" : w.output.dtype;
  std::string o = fmt::format("{{\"model_name\": {}, \"model_version\": \"1\"", json::quote(model));
  if (!r.id.empty())
    o += ", \"id\": " + json::quote(r.id);
  o += fmt::format(", \"outputs\": [{{\"name\": {}, \"datatype\": {}, \"shape\": [", json::quote(r.output_name),
                   json::quote(dtype));
  for (std::size_t i = 0; i < w.output.shape.size(); ++i)
    o += (i ? ", " : "") + std::to_string(w.output.shape[i]);
  o += "]";
  kserve_body out;
  if (r.binary_output) {
    o += fmt::format(", \"parameters\": {{\"binary_data_size\": {}}}}}]}}", w.output.data.size());
    out.header_length = o.size();
    out.body = std::move(o);
    out.body += w.output.data;
    return out;
  }
  o += ", \"data\": [";
  if (w.output.dtype == "f32") {
    std::size_t n = w.output.data.size() / sizeof(float);
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, w.output.data.data() + i * sizeof(float), sizeof v);
      o += (i ? ", " : "") + json::number(static_cast<double>(v));
    }
  }
  o += "]}]}\n";
  out.body = std::move(o);
  return out;
}

std::string kserve_error_json(const std::string& status, const std::string& reason) {
  return fmt::format("{{\"error\": {}, \"status\": {}, \"reason\": {}}}\n", json::quote(reason), json::quote(status),
                     json::quote(reason));
}

std::string kserve_server_metadata() {
  return "{\"name\": \"switchyard\", \"version\": \"0.1.0\", \"extensions\": [\"binary_tensor_data\", "
         "\"model_repository\"]}\n";
}

std::string kserve_model_metadata(const std::string& model) {
  return fmt::format("{{\"name\": {}, \"versions\": [\"1\"], \"platform\": \"switchyard\", \"inputs\": [{{\"name\": "
                     "\"{}\", \"datatype\": \"INT64\", \"shape\": [-1]}}], \"outputs\": [{{\"name\": \"{}\", "
                     "\"datatype\": \"FP32\", \"shape\": [-1]}}]}}\n",
                     json::quote(model), kserve_input_name, kserve_output_name);
}

} // namespace sy::actors
