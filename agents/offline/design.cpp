#include "agents/offline/design.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "util/hash.h"

namespace asiarch::agents {

const std::vector<Gene>& design_genes() {
  static const std::vector<Gene> genes = {
      {"feature_map", {"identity", "elu1", "relu", "silu"}},
      {"qk_norm", {"l2", "none"}},
      {"update", {"additive", "decay", "delta", "gated_delta"}},
      {"decay", {"data", "fixed"}},
      {"beta", {"sigmoid", "sigmoid2"}},
      {"conv", {"none", "qk", "v", "qkv"}},
      {"conv_size", {"2", "4"}},
      {"norm", {"none", "rms", "gated_rms"}},
      {"gate", {"none", "silu", "sigmoid"}},
      {"paths", {"", "conv", "value", "conv+value"}},
      {"fusion", {"sum", "router"}},
      {"head_factor", {"1", "2"}},
      {"decay_width", {"head", "channel"}},
      {"erase_write", {"tied", "separate"}},
  };
  return genes;
}

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::vector<std::string> split_paths(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, '+'))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool has_decay(const Design& d) { return d.update == "decay" || d.update == "gated_delta"; }
bool is_delta(const Design& d) { return d.update == "delta" || d.update == "gated_delta"; }
bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

std::string gene_value(const Design& d, const std::string& gene) {
  if (gene == "feature_map") return d.feature_map;
  if (gene == "qk_norm") return d.qk_norm;
  if (gene == "update") return d.update;
  if (gene == "decay") return d.decay;
  if (gene == "beta") return d.beta;
  if (gene == "conv") return d.conv;
  if (gene == "conv_size") return std::to_string(d.conv_size);
  if (gene == "norm") return d.norm;
  if (gene == "gate") return d.gate;
  if (gene == "paths") return join(d.paths, "+");
  if (gene == "fusion") return d.fusion;
  if (gene == "head_factor") return std::to_string(d.head_factor);
  if (gene == "decay_width") return d.decay_width;
  if (gene == "erase_write") return d.erase_write;
  return "";
}

Status set_gene(Design& d, const std::string& gene, const std::string& value) {
  const auto& genes = design_genes();
  auto g = std::find_if(genes.begin(), genes.end(), [&](const Gene& x) { return x.name == gene; });
  if (g == genes.end()) return make_error("unknown design field \"" + gene + "\"");
  std::string v = value;
  if (gene == "paths") {
    auto p = split_paths(value);
    std::sort(p.begin(), p.end());
    p.erase(std::unique(p.begin(), p.end()), p.end());
    v = join(p, "+");
  }
  if (!has(g->values, v)) return make_error("design field \"" + gene + "\": unknown value \"" + value + "\"; valid: " + join(g->values, ", "));
  if (gene == "feature_map") d.feature_map = v;
  else if (gene == "qk_norm") d.qk_norm = v;
  else if (gene == "update") d.update = v;
  else if (gene == "decay") d.decay = v;
  else if (gene == "beta") d.beta = v;
  else if (gene == "conv") d.conv = v;
  else if (gene == "conv_size") d.conv_size = std::stoi(v);
  else if (gene == "norm") d.norm = v;
  else if (gene == "gate") d.gate = v;
  else if (gene == "paths") d.paths = split_paths(v);
  else if (gene == "fusion") d.fusion = v;
  else if (gene == "head_factor") d.head_factor = std::stoi(v);
  else if (gene == "decay_width") d.decay_width = v;
  else if (gene == "erase_write") d.erase_write = v;
  return Ok{};
}

Design normalised(Design d) {
  const Design defaults;
  if (is_delta(d)) d.qk_norm = "l2";  // the delta rule needs unit keys to stay stable
  if (!has_decay(d)) d.decay = defaults.decay;
  if (!is_delta(d)) d.beta = defaults.beta;
  if (d.conv == "none") d.conv_size = defaults.conv_size;
  if (d.norm == "gated_rms") d.gate = "none";
  std::sort(d.paths.begin(), d.paths.end());
  d.paths.erase(std::unique(d.paths.begin(), d.paths.end()), d.paths.end());
  if (d.paths.empty()) d.fusion = defaults.fusion;
  if (!has_decay(d) || d.decay != "data") d.decay_width = defaults.decay_width;  // a per-channel decay is data-dependent
  if (!is_delta(d)) d.erase_write = defaults.erase_write;
  return d;
}

namespace {

// The genes added after the first campaigns: in the canonical form only when not at their default.
bool late_gene_at_default(const Design& n, const std::string& gene) {
  const Design defaults;
  return (gene == "decay_width" && n.decay_width == defaults.decay_width) ||
         (gene == "erase_write" && n.erase_write == defaults.erase_write);
}

}  // namespace

std::string canonical(const Design& d) {
  const Design n = normalised(d);
  std::string out;
  for (const auto& g : design_genes())
    if (!late_gene_at_default(n, g.name)) out += (out.empty() ? "" : ";") + g.name + "=" + gene_value(n, g.name);
  return out;
}

std::vector<std::tuple<std::string, std::string, std::string>> differences(const Design& from, const Design& to) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  const Design a = normalised(from), b = normalised(to);
  for (const auto& g : design_genes()) {
    auto x = gene_value(a, g.name), y = gene_value(b, g.name);
    if (x != y) out.emplace_back(g.name, x, y);
  }
  return out;
}

double distance(const Design& a, const Design& b) {
  return static_cast<double>(differences(a, b).size()) / static_cast<double>(design_genes().size());
}

std::string design_name(const Design& raw) {
  const Design d = normalised(raw);
  std::string name = d.update;
  if (d.feature_map != "identity") name += "_" + d.feature_map;
  if (has_decay(d) && d.decay == "fixed") name += "_fixed";
  if (is_delta(d) && d.beta == "sigmoid2") name += "_neg";
  if (d.decay_width == "channel") name += "_channel";
  if (d.erase_write == "separate") name += "_erase_write";
  for (const auto& p : d.paths) name += "_" + p;
  if (!d.paths.empty() && d.fusion == "router") name += "_router";
  return name + "_" + sha256_hex(canonical(d)).substr(0, 6);
}

namespace {

std::string class_name(const std::string& name) {
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_' || c == '-') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "Mixer" + out;
  return out;
}

std::string comment_lines(const std::string& text) {
  std::string out = "// ";
  size_t col = 3;
  std::stringstream words(text);
  std::string w;
  while (words >> w) {
    if (col + w.size() > 100 && col > 3) {
      out += "\n// ";
      col = 3;
    }
    out += w + " ";
    col += w.size() + 1;
  }
  return out + "\n";
}

}  // namespace

std::string emit_source(const Design& raw, const std::string& name, const std::string& motivation) {
  const Design d = normalised(raw);
  const std::string cls = class_name(name);
  const bool delta = is_delta(d), decay = has_decay(d);
  const bool conv_q = d.conv == "qk" || d.conv == "qkv", conv_v = d.conv == "v" || d.conv == "qkv";
  const bool gproj = d.norm == "gated_rms" || d.gate != "none";
  const bool router = !d.paths.empty() && d.fusion == "router";
  const bool path_conv = has(d.paths, "conv"), path_value = has(d.paths, "value");
  const int num_paths = 1 + static_cast<int>(d.paths.size());
  const std::string k = std::to_string(d.conv_size);
  const bool channel = d.decay_width == "channel", separate = d.erase_write == "separate";
  const bool dplr = channel || separate;  // the diagonal-plus-low-rank ops (ops::dplr_chunkwise)

  std::ostringstream s;
  s << "// Evolved mixer " << name << ", emitted by asiarch's offline Researcher.\n"
    << "// design: " << canonical(d) << "\n"
    << comment_lines(motivation) << "// options: chunk=N (default 64).\n"
    << "#include <asiarch/plugin.h>\n\n"
    << "namespace ops = asiarch::ops;\n\n"
    << "class " << cls << " : public asiarch::TokenMixer {\n public:\n"
    << "  explicit " << cls << "(const asiarch::MixerConfig& cfg)\n"
    << "      : heads_(cfg.num_heads * " << d.head_factor << "), head_dim_(cfg.d_model / heads_),\n"
    << "        chunk_(asiarch::option_int(cfg, \"chunk\", 64)) {\n"
    << "    auto lin = [&](const char* name, int64_t out) {\n"
    << "      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, out).bias(false)));\n"
    << "    };\n"
    << "    q_proj_ = lin(\"q_proj\", cfg.d_model);\n"
    << "    k_proj_ = lin(\"k_proj\", cfg.d_model);\n"
    << "    v_proj_ = lin(\"v_proj\", cfg.d_model);\n"
    << "    o_proj_ = lin(\"o_proj\", cfg.d_model);\n";
  if (delta && !separate) s << "    b_proj_ = lin(\"b_proj\", heads_);\n";
  if (gproj) s << "    g_proj_ = lin(\"g_proj\", cfg.d_model);\n";
  if (router) s << "    r_proj_ = lin(\"r_proj\", heads_ * " << num_paths << ");\n";
  if (conv_q)
    s << "    q_conv_ = register_module(\"q_conv\", ops::ShortConv(cfg.d_model, " << k << "));\n"
      << "    k_conv_ = register_module(\"k_conv\", ops::ShortConv(cfg.d_model, " << k << "));\n";
  if (conv_v) s << "    v_conv_ = register_module(\"v_conv\", ops::ShortConv(cfg.d_model, " << k << "));\n";
  if (path_conv) s << "    p_conv_ = register_module(\"p_conv\", ops::ShortConv(cfg.d_model, 4));\n";
  if (d.norm != "none") s << "    norm_ = register_module(\"o_norm\", ops::RMSNorm(head_dim_));\n";
  if (separate)
    s << "    // Key-side erase and value-side write gates, per channel, from low-rank projections (GDN-2).\n"
      << "    const int64_t gate_rank = std::max<int64_t>(8, head_dim_ / 2);\n"
      << "    auto low = [&](const char* name, int64_t in, int64_t out) {\n"
      << "      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));\n"
      << "    };\n"
      << "    e_down_ = low(\"e_down\", cfg.d_model, gate_rank);\n"
      << "    e_up_ = low(\"e_up\", gate_rank, cfg.d_model);\n"
      << "    w_down_ = low(\"w_down\", cfg.d_model, gate_rank);\n"
      << "    w_up_ = low(\"w_up\", gate_rank, cfg.d_model);\n";
  if (channel) {
    s << "    // A per-channel decay from a low-rank projection (Kimi Delta Attention's fine-grained gate).\n"
      << "    const int64_t rank = std::max<int64_t>(8, head_dim_ / 2);\n"
      << "    f_down_ = register_module(\"f_down\", torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, rank).bias(false)));\n"
      << "    f_up_ = register_module(\"f_up\", torch::nn::Linear(torch::nn::LinearOptions(rank, cfg.d_model).bias(false)));\n"
      << "    torch::NoGradGuard no_grad;\n"
      << "    A_log_ = register_parameter(\"A_log\", torch::empty({heads_}).uniform_(1, 16).log());\n"
      << "    auto dt = torch::exp(torch::rand({cfg.d_model}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);\n"
      << "    dt_bias_ = register_parameter(\"dt_bias\", dt + torch::log(-torch::expm1(-dt)));\n";
  } else if (decay && d.decay == "data") {
    s << "    a_proj_ = lin(\"a_proj\", heads_);\n"
      << "    torch::NoGradGuard no_grad;\n"
      << "    // Mamba2's initialisation: A ~ U(1, 16), dt ~ logU(1e-3, 0.1).\n"
      << "    A_log_ = register_parameter(\"A_log\", torch::empty({heads_}).uniform_(1, 16).log());\n"
      << "    auto dt = torch::exp(torch::rand({heads_}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);\n"
      << "    dt_bias_ = register_parameter(\"dt_bias\", dt + torch::log(-torch::expm1(-dt)));\n";
  } else if (decay) {
    s << "    torch::NoGradGuard no_grad;\n"
      << "    // Per-head decay gamma_h = 1 - 2^(-5-h) (RetNet's spread), learned as a logit.\n"
      << "    auto gamma = 1 - torch::pow(2.0, -5.0 - torch::arange(heads_, torch::kFloat));\n"
      << "    decay_logit_ = register_parameter(\"decay_logit\", torch::log(gamma / (1 - gamma)));\n";
  }
  s << "  }\n\n"
    << "  torch::Tensor forward(const torch::Tensor& x) override {\n"
    << "    const auto B = x.size(0), L = x.size(1);\n";
  auto feature = [&](const std::string& t) {
    if (d.feature_map == "elu1") return "torch::elu(" + t + ") + 1";
    if (d.feature_map == "relu") return "torch::relu(" + t + ")";
    if (d.feature_map == "silu") return "torch::silu(" + t + ")";
    return t;
  };
  s << "    auto q = " << feature("ops::split_heads(" + std::string(conv_q ? "q_conv_(q_proj_(x))" : "q_proj_(x)") + ", heads_)") << ";\n"
    << "    auto k = " << feature("ops::split_heads(" + std::string(conv_q ? "k_conv_(k_proj_(x))" : "k_proj_(x)") + ", heads_)") << ";\n"
    << "    auto v_in = " << (conv_v ? "v_conv_(v_proj_(x))" : "v_proj_(x)") << ";\n"
    << "    auto v = ops::split_heads(v_in, heads_);\n";
  if (d.qk_norm == "l2")
    s << "    q = ops::l2_normalize(q);\n"
      << "    k = ops::l2_normalize(k);\n";
  s << "    q = q / std::sqrt(static_cast<double>(head_dim_));\n";
  if (delta && !separate)
    s << "    auto beta = torch::sigmoid(b_proj_(x)).transpose(1, 2)" << (d.beta == "sigmoid2" ? " * 2.0" : "")
      << ";  // [B, H, L]\n";
  if (channel)
    s << "    // Per channel: [B, H, L, K].\n"
      << "    auto g = -A_log_.exp().view({1, heads_, 1, 1}) * ops::split_heads(torch::softplus(f_up_(f_down_(x)) + dt_bias_), heads_);\n"
      << "    (void)B;\n    (void)L;\n";
  else if (decay && d.decay == "data")
    s << "    auto g = (-A_log_.exp() * torch::softplus(a_proj_(x) + dt_bias_)).transpose(1, 2);  // [B, H, L]\n";
  else if (decay)
    s << "    auto g = torch::log_sigmoid(decay_logit_).view({1, heads_, 1}).expand({B, heads_, L});\n";
  else
    s << "    (void)B;\n    (void)L;\n";
  if (dplr) {
    // S_t = Diag(exp(g_t)) S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T (docs/baselines.md).
    s << "    // Diagonal plus low rank: chunks of at most 16 (the pairwise decays are [C, C, K]).\n"
      << "    const int64_t c = std::min<int64_t>(chunk_, 16);\n";
    if (decay) s << "    auto gk = " << (channel ? "g" : "g.unsqueeze(-1).expand_as(k)") << ";\n";
    else s << "    torch::Tensor gk;\n";
    if (d.update == "decay") {
      s << "    auto none = torch::zeros_like(k);\n"
        << "    auto o = ops::dplr_chunkwise(q, k, v, none, none, gk, c);\n";
    } else {
      const std::string two = d.beta == "sigmoid2" ? " * 2.0" : "";
      s << "    auto erase = " << (separate ? "torch::sigmoid(ops::split_heads(e_up_(e_down_(x)), heads_))" + two : std::string("beta.unsqueeze(-1)")) << ";\n"
        << "    auto write = " << (separate ? "torch::sigmoid(ops::split_heads(w_up_(w_down_(x)), heads_))" : "beta.unsqueeze(-1)") << ";\n"
        << "    auto b = erase * k" << (decay ? " * gk.exp()" : "") << ";\n"
        << "    auto o = ops::dplr_chunkwise(q, k, write * v, -k, b, gk, c);\n";
    }
  } else {
    if (d.update == "additive") s << "    auto o = ops::linear_attention_chunkwise(q, k, v, {}, chunk_);\n";
    if (d.update == "decay") s << "    auto o = ops::linear_attention_chunkwise(q, k, v, g, chunk_);\n";
    if (d.update == "delta") s << "    auto o = ops::delta_rule_chunkwise(q, k, v, beta, {}, chunk_);\n";
    if (d.update == "gated_delta") s << "    auto o = ops::delta_rule_chunkwise(q, k, v, beta, g, chunk_);\n";
  }
  if (!d.paths.empty()) {
    s << "    std::vector<torch::Tensor> paths{o};\n";
    if (path_conv) s << "    paths.push_back(ops::split_heads(p_conv_(v_in), heads_));\n";
    if (path_value) s << "    paths.push_back(v);\n";
    if (router)
      s << "    // Learned routing: per token and head, a softmax over the paths.\n"
        << "    auto w = torch::softmax(r_proj_(x).view({B, L, heads_, " << num_paths
        << "}), -1).permute({0, 2, 1, 3});  // [B, H, L, P]\n"
        << "    o = paths[0] * w.select(-1, 0).unsqueeze(-1);\n"
        << "    for (size_t p = 1; p < paths.size(); ++p) o = o + paths[p] * w.select(-1, static_cast<int64_t>(p)).unsqueeze(-1);\n";
    else
      s << "    for (size_t p = 1; p < paths.size(); ++p) o = o + paths[p];\n";
  }
  if (gproj) s << "    auto gate = ops::split_heads(g_proj_(x), heads_);\n";
  if (d.norm == "rms") s << "    o = norm_(o);\n";
  if (d.norm == "gated_rms") s << "    o = norm_->gated(o, gate);\n";
  if (d.gate == "silu") s << "    o = o * torch::silu(gate);\n";
  if (d.gate == "sigmoid") s << "    o = o * torch::sigmoid(gate);\n";
  s << "    return o_proj_(ops::merge_heads(o));\n  }\n\n private:\n"
    << "  int64_t heads_, head_dim_, chunk_;\n"
    << "  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, o_proj_{nullptr}";
  if (delta && !separate) s << ", b_proj_{nullptr}";
  if (gproj) s << ", g_proj_{nullptr}";
  if (router) s << ", r_proj_{nullptr}";
  if (decay && d.decay == "data" && !channel) s << ", a_proj_{nullptr}";
  if (channel) s << ", f_down_{nullptr}, f_up_{nullptr}";
  if (separate) s << ", e_down_{nullptr}, e_up_{nullptr}, w_down_{nullptr}, w_up_{nullptr}";
  s << ";\n";
  std::vector<std::string> convs;
  if (conv_q) convs = {"q_conv_{nullptr}", "k_conv_{nullptr}"};
  if (conv_v) convs.push_back("v_conv_{nullptr}");
  if (path_conv) convs.push_back("p_conv_{nullptr}");
  if (!convs.empty()) s << "  ops::ShortConv " << join(convs, ", ") << ";\n";
  if (d.norm != "none") s << "  ops::RMSNorm norm_{nullptr};\n";
  if (decay && d.decay == "data") s << "  torch::Tensor A_log_, dt_bias_;\n";
  if (decay && d.decay == "fixed") s << "  torch::Tensor decay_logit_;\n";
  s << "};\n\nASIARCH_REGISTER_MIXER(" << cls << ", \"" << name << "\")\n";
  return s.str();
}

nlohmann::json to_json(const Design& raw) {
  const Design d = normalised(raw);
  nlohmann::json j = nlohmann::json::object();
  for (const auto& g : design_genes()) j[g.name] = gene_value(d, g.name);
  return j;
}

Result<Design> design_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("a design must be a JSON object");
  Design d;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) return make_error("design field \"" + key + "\" must be a string");
    if (auto st = set_gene(d, key, value.get<std::string>()); !st) return st.error();
  }
  return normalised(d);
}

std::vector<std::pair<std::string, Design>> baseline_designs() {
  Design la;
  la.qk_norm = "none";
  la.update = "additive";
  la.conv = "none";
  Design dn;  // the defaults are DeltaNet
  Design gdn;
  gdn.update = "gated_delta";
  gdn.norm = "gated_rms";
  Design m2;
  m2.qk_norm = "none";
  m2.update = "decay";
  m2.norm = "gated_rms";
  Design kda = gdn;
  kda.decay_width = "channel";
  Design gdn2 = kda;
  gdn2.erase_write = "separate";
  return {{"linear_attention", la}, {"delta_net", dn},           {"gated_delta_net", gdn},
          {"mamba2", m2},           {"kimi_delta_attention", kda}, {"gated_delta_net_2", gdn2}};
}

}  // namespace asiarch::agents
