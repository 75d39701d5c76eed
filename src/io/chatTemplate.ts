// Chat templates: the Jinja program a model ships (tokenizer_config.json's chat_template, or
// chat_template.jinja) that turns a conversation into the exact prompt text it was trained on. Rendered with
// @huggingface/jinja, given the variables transformers' apply_chat_template passes.

import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the header that opens the assistant's turn (what generation wants). Default true. */
  addGenerationPrompt?: boolean;
  /** The tokenizer's BOS/EOS strings, which many templates insert themselves. */
  bosToken?: string | null;
  eosToken?: string | null;
}

export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

export class ChatTemplate {
  private readonly template: Template;

  /** Parses once; a template our Jinja cannot parse is refused here rather than at first use. */
  constructor(readonly source: string) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(`the model's chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The prompt text for `messages`; BOS appears only where the template writes it. */
  apply(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? true,
        bos_token: opts.bosToken ?? '',
        eos_token: opts.eosToken ?? '',
      });
    } catch (e) {
      // Templates call raise_exception for conversations they refuse (e.g. roles out of order).
      throw new ChatTemplateError(`the chat template failed on these messages: ${(e as Error).message}`);
    }
  }
}
