export { default, handleSummary, options, setup } from './jose-body.ts';
