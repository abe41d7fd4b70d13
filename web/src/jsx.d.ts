import type { HTMLAttributes } from 'preact';

declare module 'preact' {
  // The option's default (its `selected` attribute), which a form's reset() returns to; Preact sets
  // it as the DOM property of that name, but its types leave it out.
  interface OptionHTMLAttributes<T extends EventTarget = HTMLOptionElement> extends HTMLAttributes<T> {
    defaultSelected?: boolean;
  }
}
