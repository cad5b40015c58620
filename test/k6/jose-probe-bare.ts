export { default, handleSummary, options } from './jose-body.ts';
