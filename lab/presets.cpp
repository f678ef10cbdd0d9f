#include "lab/presets.h"

#include <algorithm>
#include <set>

#include "lab/tasks.h"

namespace asiarch::lab {
namespace {

// Reads an object's fields by name and type, rejecting unknown ones; errors
// name the file and the dotted field path.
class Fields {
 public:
  Fields(const nlohmann::json& j, std::string path, const std::string& source)
      : j_(j), path_(std::move(path)), source_(source) {
    if (!j_.is_object()) fail(path_, "must be a JSON object");
  }
  template <class T>
  void read(const std::string& key, T& out, const char* type) {
    seen_.insert(key);
    if (!j_.contains(key)) return;
    const auto& v = j_.at(key);
    bool ok = false;
    if constexpr (std::is_same_v<T, std::string>) ok = v.is_string();
    else if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
    else if constexpr (std::is_integral_v<T>) ok = v.is_number_integer();
    else if constexpr (std::is_floating_point_v<T>) ok = v.is_number();
    else ok = v.is_array();
    if (!ok) fail(path_ + "." + key, std::string("must be ") + type);
    out = v.get<T>();
  }
  const nlohmann::json& object(const std::string& key) {
    seen_.insert(key);
    if (!j_.contains(key)) fail(path_ + "." + key, "is missing");
    return j_.at(key);
  }
  void done() const {
    for (const auto& [k, v] : j_.items())
      if (!seen_.count(k)) fail(path_ + "." + k, "is not a known setting");
  }
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw std::invalid_argument(source_ + ": " + field + ": " + what);
  }

 private:
  const nlohmann::json& j_;
  std::string path_;
  const std::string& source_;
  std::set<std::string> seen_;
};

}  // namespace

const std::string& embedded_presets() {
  static const std::string text =
#include "presets.json.inc"
      ;
  return text;
}

std::vector<std::string> preset_names(const std::string& text) {
  std::vector<std::string> names;
  try {
    for (const auto& [k, v] : nlohmann::json::parse(text).items()) names.push_back(k);
  } catch (const std::exception&) {
  }
  return names;
}

namespace {

void read_tasks(const nlohmann::json& tasks, const std::string& path, Fields& parent,
                std::vector<std::pair<std::string, nlohmann::json>>& out) {
  if (!tasks.is_object() || tasks.empty()) parent.fail(path, "must be a non-empty object");
  for (const auto& [task, settings] : tasks.items()) {
    if (std::find(task_names().begin(), task_names().end(), task) == task_names().end()) {
      std::string valid;
      for (const auto& n : task_names()) valid += (valid.empty() ? "" : ", ") + n;
      parent.fail(path + "." + task, "is not a known task; valid tasks: " + valid);
    }
    if (!settings.is_object()) parent.fail(path + "." + task, "must be a JSON object");
    // The trainer's own settings of a task (train_config_for): wrong-typed or not positive is an
    // error here, never a setting silently left at the preset's value.
    for (const char* key : {"steps", "batch_size"})
      if (settings.contains(key) && (!settings[key].is_number_integer() || settings[key].get<int64_t>() <= 0))
        parent.fail(path + "." + task + "." + key, "must be a positive integer, got " + settings[key].dump());
    if (settings.contains("lr") && (!settings["lr"].is_number() || !(settings["lr"].get<double>() > 0)))
      parent.fail(path + "." + task + ".lr", "must be a positive number, got " + settings["lr"].dump());
    if (auto ok = check_task_settings(task, settings); !ok) parent.fail(path + "." + task, ok.error().message);
    out.emplace_back(task, settings);
  }
}

Result<Preset> parse_preset(const std::string& name, const std::string& text, const std::string& source);

}  // namespace

Result<Preset> load_preset(const std::string& name, const std::string& text, const std::string& source) {
  const std::string suffix = kHeldOutSuffix;
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    const std::string base = name.substr(0, name.size() - suffix.size());
    auto p = parse_preset(base, text, source);
    if (!p) return p.error();
    if (p->held_out_tasks.empty())
      return make_error(source + ": preset \"" + base + "\" has no held_out tasks, so \"" + name + "\" does not exist");
    p->name = name;
    p->description = "the held-out tasks of " + base + ", never used for selection";
    p->tasks = std::move(p->held_out_tasks);
    p->held_out_tasks.clear();
    return p;
  }
  return parse_preset(name, text, source);
}

namespace {

Result<Preset> parse_preset(const std::string& name, const std::string& text, const std::string& source) {
  nlohmann::json all;
  try {
    all = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(source + ": not valid JSON: " + e.what());
  }
  if (!all.is_object()) return make_error(source + ": must be a JSON object of presets");
  if (!all.contains(name)) {
    std::string valid;
    for (const auto& [k, v] : all.items()) valid += (valid.empty() ? "" : ", ") + k;
    return make_error("unknown preset \"" + name + "\"; valid presets: " + valid);
  }
  try {
    Preset p;
    p.name = name;
    Fields top(all.at(name), name, source);
    top.read("description", p.description, "a string");
    Fields model(top.object("model"), name + ".model", source);
    model.read("d_model", p.model.d_model, "an integer");
    model.read("num_layers", p.model.num_layers, "an integer");
    model.read("num_heads", p.model.num_heads, "an integer");
    model.read("mlp_hidden", p.model.mlp_hidden, "an integer");
    model.read("layer_pattern", p.model.layer_pattern, "a string");
    model.done();
    if (p.model.d_model <= 0 || p.model.num_layers <= 0 || p.model.num_heads <= 0 ||
        p.model.d_model % p.model.num_heads != 0)
      model.fail(name + ".model", "d_model, num_layers, num_heads must be positive and d_model divisible by num_heads");
    if (auto why = layer_pattern_problem(p.model.layer_pattern, p.model.num_layers); !why.empty())
      model.fail(name + ".model.layer_pattern", why);
    Fields train(top.object("train"), name + ".train", source);
    train.read("steps", p.train.steps, "an integer");
    train.read("batch_size", p.train.batch_size, "an integer");
    train.read("lr", p.train.lr, "a number");
    train.read("weight_decay", p.train.weight_decay, "a number");
    train.read("warmup_frac", p.train.warmup_frac, "a number");
    train.read("min_lr_frac", p.train.min_lr_frac, "a number");
    train.read("grad_clip", p.train.grad_clip, "a number");
    train.read("threads", p.train.threads, "an integer");
    train.read("shard_batch", p.train.shard_batch, "true or false");
    train.done();
    if (p.train.steps <= 0 || p.train.batch_size <= 0 || p.train.lr <= 0 || p.train.threads <= 0)
      train.fail(name + ".train", "steps, batch_size, lr and threads must be positive");
    Fields monitor(top.object("monitor"), name + ".monitor", source);
    monitor.read("stop_at", p.monitor.stop_at, "an array of fractions of the steps");
    monitor.read("stop_sigmas", p.monitor.stop_sigmas, "a number");
    monitor.read("stop_min_gap", p.monitor.stop_min_gap, "a number");
    monitor.read("time_factor", p.monitor.time_factor, "a number");
    monitor.done();
    if (!std::is_sorted(p.monitor.stop_at.begin(), p.monitor.stop_at.end()) ||
        std::any_of(p.monitor.stop_at.begin(), p.monitor.stop_at.end(), [](double f) { return !(f > 0 && f < 1); }))
      monitor.fail(name + ".monitor.stop_at", "must be fractions between 0 and 1 (exclusive), in increasing order");
    if (!(p.monitor.stop_sigmas >= 0) || !(p.monitor.stop_min_gap >= 0) || !(p.monitor.time_factor > 0))
      monitor.fail(name + ".monitor", "stop_sigmas and stop_min_gap must be non-negative, time_factor positive");
    Fields gates(top.object("gates"), name + ".gates", source);
    p.gate_lengths = {512, 1024, 2048};
    gates.read("lengths", p.gate_lengths, "an array of integers");
    gates.read("parameter_tolerance", p.parameter_tolerance, "a number");
    gates.done();
    if (p.gate_lengths.size() < 2) gates.fail(name + ".gates.lengths", "needs at least two lengths");
    read_tasks(top.object("tasks"), name + ".tasks", top, p.tasks);
    if (all.at(name).contains("held_out")) {
      Fields held(top.object("held_out"), name + ".held_out", source);
      held.read("seed_offset", p.held_out_seed_offset, "a non-negative integer");
      read_tasks(held.object("tasks"), name + ".held_out.tasks", held, p.held_out_tasks);
      held.done();
    }
    top.done();
    return p;
  } catch (const std::invalid_argument& e) {
    return make_error(e.what());
  } catch (const nlohmann::json::exception& e) {
    return make_error(source + ": " + e.what());
  }
}

}  // namespace

TrainConfig train_config_for(const Preset& preset, const nlohmann::json& task) {
  TrainConfig c = preset.train;
  if (task.contains("steps") && task["steps"].is_number_integer()) c.steps = task["steps"].get<int64_t>();
  if (task.contains("batch_size") && task["batch_size"].is_number_integer())
    c.batch_size = task["batch_size"].get<int64_t>();
  if (task.contains("lr") && task["lr"].is_number()) c.lr = task["lr"].get<double>();
  return c;
}

}  // namespace asiarch::lab
