#include "worker/wire.h"

#include "worker/worker_job.h"

namespace asiarch::host {
namespace {

// Counts nesting as the parser meets it and stops it past the limit: a message is measured before
// any of it is built.
class DepthLimit : public nlohmann::json::json_sax_t {
 public:
  explicit DepthLimit(int max) : max_(max) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth_ <= max_ || (too_deep_ = true, false); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override { return ++depth_ <= max_ || (too_deep_ = true, false); }
  bool end_array() override { return --depth_, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  bool too_deep() const { return too_deep_; }

 private:
  int max_, depth_ = 0;
  bool too_deep_ = false;
};

void to_json(nlohmann::json& j, const lab::Reference& r) {
  j = {{"curve", r.curve}, {"spread", r.spread}, {"seeds", r.seeds}, {"seconds", r.seconds}};
}
void from_json(const nlohmann::json& j, lab::Reference& r) {
  r.curve = j.at("curve").get<lab::Curve>();
  r.spread = j.value("spread", lab::Curve{});
  r.seeds = j.value("seeds", 1);
  r.seconds = j.at("seconds").get<double>();
}

}  // namespace

Result<nlohmann::json> parse_message(const std::string& text, int max_depth) {
  DepthLimit limit(max_depth);
  const bool ok = nlohmann::json::sax_parse(text, &limit);
  if (limit.too_deep()) return make_error("a message nested deeper than " + std::to_string(max_depth) + " levels");
  if (!ok) return make_error("a message that is not JSON");
  return nlohmann::json::parse(text);
}

nlohmann::json message(WorkerMessage kind, nlohmann::json fields) {
  fields["kind"] = name_of(kind);
  return fields;
}

nlohmann::json message(HostMessage kind, nlohmann::json fields) {
  fields["kind"] = name_of(kind);
  return fields;
}

Result<WorkerMessage> worker_message_of(const nlohmann::json& m) {
  if (!m.is_object() || !m.contains("kind") || !m["kind"].is_string()) return make_error("a message without a kind");
  auto k = worker_message_named(m["kind"].get_ref<const std::string&>());
  if (!k) return make_error("a message of an unknown kind");
  return *k;
}

void to_json(nlohmann::json& j, const WorkerJob& w) {
  nlohmann::json refs = nlohmann::json::object();
  for (const auto& [task, r] : w.references) to_json(refs[task], r);
  j = {{"kind", name_of(w.kind)},
       {"experiment", w.experiment},
       {"name", w.name},
       {"preset", w.preset},
       {"presets_file", w.presets_file},
       {"tasks", w.tasks},
       {"seed", w.seed},
       {"mixer_options", w.mixer_options},
       {"reference_parameters", w.reference_parameters},
       {"baselines_dir", w.baselines_dir},
       {"references", refs},
       {"cache_dir", w.cache_dir},
       {"keep_alive", w.keep_alive},
       {"quadratic_reference", w.quadratic_reference},
       {"replica", w.replica},
       {"early_stop", w.early_stop},
       {"gpu", w.gpu}};
}

void from_json(const nlohmann::json& j, WorkerJob& w) {
  const auto kind = j.at("kind").get<std::string>();
  auto k = job_kind_named(kind);
  if (!k) throw std::runtime_error("unknown job kind \"" + kind.substr(0, 40) + "\"");
  w.kind = *k;
  w.experiment = j.at("experiment").get<int64_t>();
  w.name = j.at("name").get<std::string>();
  w.preset = j.at("preset").get<std::string>();
  w.presets_file = j.at("presets_file").get<std::string>();
  w.tasks = j.at("tasks").get<std::vector<std::string>>();
  w.seed = j.at("seed").get<std::uint64_t>();
  w.mixer_options = j.at("mixer_options").get<std::string>();
  w.reference_parameters = j.at("reference_parameters").get<int64_t>();
  w.baselines_dir = j.at("baselines_dir").get<std::string>();
  for (const auto& [task, r] : j.at("references").items()) from_json(r, w.references[task]);
  w.cache_dir = j.at("cache_dir").get<std::string>();
  w.keep_alive = j.value("keep_alive", false);
  w.quadratic_reference = j.value("quadratic_reference", false);
  w.replica = j.value("replica", false);
  w.early_stop = j.value("early_stop", false);
  w.gpu = j.value("gpu", "");
}

void to_json(nlohmann::json& j, const CompileReport& c) {
  j = {{"ok", c.ok}, {"diagnostics", c.diagnostics}, {"seconds", c.seconds}, {"cache_hit", c.cache_hit},
       {"cache_key", c.cache_key}};
}

void from_json(const nlohmann::json& j, CompileReport& c) {
  c.ok = j.at("ok").get<bool>();
  c.diagnostics = j.at("diagnostics").get<jit::Diagnostics>();
  c.seconds = j.at("seconds").get<double>();
  c.cache_hit = j.at("cache_hit").get<bool>();
  c.cache_key = j.at("cache_key").get<std::string>();
}

void to_json(nlohmann::json& j, const WorkerResult& r) {
  j = {{"error", r.error}, {"reference_parameters", r.reference_parameters}};
  if (r.compile) j["compile"] = *r.compile;
  if (r.report) j["report"] = *r.report;
}

void from_json(const nlohmann::json& j, WorkerResult& r) {
  if (j.contains("compile")) r.compile = j.at("compile").get<CompileReport>();
  r.error = j.at("error").get<std::string>();
  r.reference_parameters = j.at("reference_parameters").get<int64_t>();
  if (j.contains("report")) r.report = j.at("report").get<lab::EvalReport>();
}

void to_json(nlohmann::json& j, const WorkerOutcome& o) {
  j = {{"result", o.result},
       {"exit", {{"timed_out", o.exit.timed_out}, {"exited", o.exit.exited}, {"code", o.exit.code},
                 {"signal", o.exit.signal}, {"seconds", o.exit.seconds}}},
       {"confinement", o.confinement},
       {"failure", o.failure},
       {"stage", o.stage},
       {"log", o.log},
       {"log_tail", o.log_tail},
       {"trusted_seconds", o.trusted_seconds}};
}

void from_json(const nlohmann::json& j, WorkerOutcome& o) {
  o.result = j.at("result").get<WorkerResult>();
  const auto& e = j.at("exit");
  o.exit.timed_out = e.at("timed_out").get<bool>();
  o.exit.exited = e.at("exited").get<bool>();
  o.exit.code = e.at("code").get<int>();
  o.exit.signal = e.at("signal").get<int>();
  o.exit.seconds = e.at("seconds").get<double>();
  o.failure = j.at("failure").get<std::string>();
  o.stage = j.at("stage").get<std::string>();
  o.log = j.value("log", "");
  o.log_tail = j.value("log_tail", "");
  o.trusted_seconds = j.value("trusted_seconds", 0.0);
}

std::string int32_bytes(const std::vector<int64_t>& v) {
  std::string out(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    const auto x = static_cast<std::uint32_t>(static_cast<std::int32_t>(v[i]));
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((x >> (8 * b)) & 0xff);
  }
  return out;
}

std::vector<int64_t> from_int32(const std::string& bytes) {
  std::vector<int64_t> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    std::uint32_t x = 0;
    for (int b = 0; b < 4; ++b) x |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    out[i] = static_cast<std::int32_t>(x);
  }
  return out;
}

nlohmann::json to_message(const Progress& p) {
  nlohmann::json m = p.data.is_object() ? p.data : nlohmann::json::object();
  m["kind"] = name_of(p.kind);
  return m;
}

Result<Progress> progress_from(const nlohmann::json& m) {
  if (!m.is_object() || !m.contains("kind") || !m["kind"].is_string()) return make_error("a progress line without a kind");
  auto k = progress_kind_named(m["kind"].get_ref<const std::string&>());
  if (!k) return make_error("a progress line of an unknown kind");
  Progress p{*k, m};
  p.data.erase("kind");
  return p;
}

}  // namespace asiarch::host
