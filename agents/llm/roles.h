// The LLM backend of the four roles (agents/roles.h): each builds its prompt
// from a versioned template, asks the shared Client, reads the answer as
// agents/llm/answer.h does, and records every call with what it made of it.
// The Engineer applies clang's fix-its before it asks; the Judge combines a
// bounded model score with the measured one; the Analyst falls back to the
// measured analysis when the answer cannot be read.
#pragma once

#include <memory>

#include "agents/llm/client.h"
#include "agents/roles.h"

namespace asiarch::agents::llm {

std::unique_ptr<Researcher> make_researcher(std::shared_ptr<Client> client);
std::unique_ptr<Engineer> make_engineer(std::shared_ptr<Client> client);
std::unique_ptr<Analyst> make_analyst(std::shared_ptr<Client> client);
std::unique_ptr<Judge> make_judge(std::shared_ptr<Client> client);

// How many corrective requests a role makes after an answer it cannot use.
constexpr int kCorrections = 1;

// A source without its comments (the Judge reads code, not persuasion).
std::string without_comments(const std::string& source);

}  // namespace asiarch::agents::llm
