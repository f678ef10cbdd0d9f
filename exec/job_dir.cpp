#include "exec/job_dir.h"

#include <unistd.h>

#include <fstream>
#include <iostream>

#include "jit/compiler.h"
#include "jit/toolchain.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

constexpr const char* kJob = "job.json";
constexpr const char* kOutcome = "outcome.json";
constexpr const char* kProgress = "progress.jsonl";

// Installs the objects the host sent (DIR/objects/<key>.o and .json) into the node's compile
// cache, preparing that cache first when the node has none. What was done, as a progress message.
nlohmann::json install_objects(const std::filesystem::path& dir, const JobFile& f, const WorkerSettings& settings,
                               const std::filesystem::path& scratch) {
  nlohmann::json note = {{"objects_sent", 0}, {"installed", 0}, {"prepared", false}};
  std::vector<std::string> keys;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir / "objects", ec))
    if (e.path().extension() == ".json") keys.push_back(e.path().stem().string());
  note["objects_sent"] = keys.size();
  if (keys.empty()) return note;
  auto tc = jit::Toolchain::create({settings.cache_dir});
  if (!tc) return note["error"] = tc.error().message, note;
  if (!std::filesystem::exists(tc->pch_path(), ec)) {
    auto p = prepare_cache(f.job, scratch / "prepare", settings);
    if (!p) return note["error"] = "preparing the node's cache: " + p.error().message, note;
    note["prepared"] = true;
  }
  int installed = 0;
  for (const auto& key : keys) {
    if (std::filesystem::exists(tc->shared_object_dir() / (key + ".o"), ec)) continue;  // the node has it
    auto meta = read_file(dir / "objects" / (key + ".json"));
    auto object = read_file(dir / "objects" / (key + ".o"));
    if (!meta || !object) continue;
    if (auto st = jit::store_object(tc->shared_object_dir(), key, *meta, std::move(*object)); st) ++installed;
    else note["error"] = st.error().message;
  }
  note["installed"] = installed;
  return note;
}

}  // namespace

Status write_job_file(const std::filesystem::path& dir, const JobFile& f) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(dir.string() + ": cannot create the job folder: " + ec.message());
  nlohmann::json j = {
      {"job", f.job},
      {"source", f.source},
      {"limits",
       {{"address_space_mb", f.limits.address_space_mb}, {"cpu_seconds", f.limits.cpu_seconds},
        {"file_size_mb", f.limits.file_size_mb}, {"max_processes", f.limits.max_processes},
        {"scratch_mb", f.limits.scratch_mb}, {"wall_seconds", f.limits.wall_seconds}}},
      {"stage_limits",
       {{"gates_seconds", f.stage_limits.gates_seconds}, {"training_factor", f.stage_limits.training_factor},
        {"training_slack_seconds", f.stage_limits.training_slack_seconds}}},
      {"readable", f.readable},
      {"isolate", f.isolate}};
  return write_file_atomic(dir / kJob, j.dump());
}

Result<JobFile> read_job_file(const std::filesystem::path& dir) {
  auto text = read_file(dir / kJob);
  if (!text) return text.error();
  try {
    const auto j = nlohmann::json::parse(*text);
    JobFile f;
    f.job = j.at("job").get<WorkerJob>();
    f.source = j.at("source").get<std::string>();
    const auto& l = j.at("limits");
    f.limits.address_space_mb = l.at("address_space_mb");
    f.limits.cpu_seconds = l.at("cpu_seconds");
    f.limits.file_size_mb = l.at("file_size_mb");
    f.limits.max_processes = l.at("max_processes");
    f.limits.scratch_mb = l.at("scratch_mb");
    f.limits.wall_seconds = l.at("wall_seconds");
    const auto& s = j.at("stage_limits");
    f.stage_limits.gates_seconds = s.at("gates_seconds");
    f.stage_limits.training_factor = s.at("training_factor");
    f.stage_limits.training_slack_seconds = s.at("training_slack_seconds");
    f.readable = j.at("readable").get<std::vector<std::string>>();
    f.isolate = j.at("isolate").get<bool>();
    return f;
  } catch (const std::exception& e) {
    return make_error((dir / kJob).string() + ": " + e.what());
  }
}

Status write_outcome_file(const std::filesystem::path& dir, const WorkerOutcome& o) {
  return write_file_atomic(dir / kOutcome, nlohmann::json(o).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::optional<WorkerOutcome>> read_outcome_file(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / kOutcome, ec)) return std::optional<WorkerOutcome>();
  auto text = read_file(dir / kOutcome);
  if (!text) return text.error();
  try {
    return std::optional<WorkerOutcome>(nlohmann::json::parse(*text).get<WorkerOutcome>());
  } catch (const std::exception& e) {
    return make_error((dir / kOutcome).string() + ": " + e.what());
  }
}

std::vector<Progress> read_progress(const std::filesystem::path& dir, std::uintmax_t& offset) {
  std::vector<Progress> out;
  std::ifstream in(dir / kProgress, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: the node is still writing it
    offset += line.size() + 1;
    auto j = parse_message(line);
    if (!j) continue;
    if (auto p = progress_from(*j)) out.push_back(std::move(*p));
  }
  return out;
}

int run_job_dir(const std::filesystem::path& dir) {
  auto f = read_job_file(dir);
  if (!f) {
    std::cerr << "asiarch slurm-job: " << f.error().message << "\n";
    return 2;
  }
  WorkerSettings settings;
  settings.cache_dir = f->job.cache_dir;
  settings.limits = f->limits;
  settings.stage_limits = f->stage_limits;
  settings.isolate = f->isolate;
  for (const auto& r : f->readable) settings.readable.emplace_back(r);
  settings.task_cache = std::make_shared<TaskCache>();
  // The worker's scratch is the node's own temporary space, not the shared folder.
  const char* tmp = std::getenv("TMPDIR");
  const auto scratch = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                       ("asiarch-job-" + std::to_string(::getpid()) + "-" + std::to_string(f->job.experiment));
  std::ofstream progress(dir / kProgress, std::ios::app | std::ios::binary);
  auto write = [&](const Progress& p) {
    progress << to_message(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    progress.flush();
  };
  nlohmann::json node = install_objects(dir, *f, settings, scratch);
  auto out = run_job(f->job, f->source, scratch / "job", settings, [&](const Progress& p) {
    if (p.kind == ProgressKind::compiled) node["cache_hit"] = p.data.value("cache_hit", false);
    write(p);
  });
  write({ProgressKind::node_cache, node});  // what the node's cache did for this job: a hit means the source was not compiled again
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  WorkerOutcome o;
  if (out) o = std::move(*out);
  else o.failure = "the compute node could not start the worker: " + out.error().message;
  if (auto st = write_outcome_file(dir, o); !st) {
    std::cerr << "asiarch slurm-job: " << st.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace asiarch::host
