#include "jit/detail/object_cache.h"

#include <nlohmann/json.hpp>

#include "util/files.h"

namespace asiarch::jit::detail {

std::optional<CachedCompile> cache_parse(const std::string& meta_text, std::string bytes) {
  try {
    auto meta = nlohmann::json::parse(meta_text);
    if (meta.at("size").get<size_t>() != bytes.size()) return std::nullopt;  // torn write
    CachedCompile c;
    c.object.bytes = std::move(bytes);
    c.object.entry_symbols = meta.at("entry_symbols").get<std::vector<std::string>>();
    c.object.has_cuda_source = meta.at("has_cuda_source").get<bool>();
    c.object.declares_quadratic = meta.at("declares_quadratic").get<bool>();
    c.diagnostics = meta.at("diagnostics").get<Diagnostics>();
    return c;
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable entry: recompile and overwrite it
  }
}

std::optional<CachedCompile> cache_lookup(const std::filesystem::path& dir, const std::string& key) {
  auto meta_text = read_file(dir / (key + ".json"));
  if (!meta_text) return std::nullopt;
  auto bytes = read_file(dir / (key + ".o"));
  if (!bytes) return std::nullopt;
  return cache_parse(*meta_text, std::move(*bytes));
}

void cache_store(const std::filesystem::path& dir, const std::string& key, const ObjectCode& object,
                 const Diagnostics& diagnostics) {
  nlohmann::json meta = {{"size", object.bytes.size()},
                         {"entry_symbols", object.entry_symbols},
                         {"has_cuda_source", object.has_cuda_source},
                         {"declares_quadratic", object.declares_quadratic},
                         {"diagnostics", diagnostics}};
  // Object first: a reader only trusts an object whose metadata names its size.
  if (!write_file_atomic(dir / (key + ".o"), object.bytes)) return;
  (void)write_file_atomic(dir / (key + ".json"), meta.dump());
}

}  // namespace asiarch::jit::detail

namespace asiarch::jit {

Status store_object(const std::filesystem::path& to_dir, const std::string& key, const std::string& meta_json,
                    std::string object) {
  if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
    return make_error("not an object cache key: \"" + key + "\"");
  auto c = detail::cache_parse(meta_json, std::move(object));
  if (!c) return make_error("object " + key + ": its metadata does not parse or does not name its size");
  std::error_code ec;
  std::filesystem::create_directories(to_dir, ec);
  if (ec) return make_error(to_dir.string() + ": " + ec.message());
  detail::cache_store(to_dir, key, c->object, c->diagnostics);
  return Ok{};
}

}  // namespace asiarch::jit
